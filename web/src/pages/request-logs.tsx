import { Badge, Button, Group, Select, Switch, Table, Text, TextInput, Tooltip } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { get, query, type Page, type RequestLog } from '../api.ts';
import { EmptyState, ErrorNote, Loading, LoadOlder, PageHeader, PoolSelect, StateBadge } from '../components.tsx';
import { formatNumber, formatTime } from '../format.ts';

const STATUSES = ['succeeded', 'failed', 'rejected', 'cancelled', 'in_progress', 'accepted'];

export function RequestLogsPage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const [model, setModel] = useState('');
  const [status, setStatus] = useState<string | null>(null);
  const [live, setLive] = useState(true);
  const [debouncedModel] = useDebouncedValue(model.trim(), 300);
  const filters = { pool_id: poolId, model: debouncedModel, status };

  const list = useInfiniteQuery({
    queryKey: ['request-logs', filters],
    queryFn: ({ pageParam }) => get<Page<RequestLog>>(`/request-logs${query({ ...filters, limit: 50, cursor: pageParam })}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const [liveRows, setLiveRows] = useState<RequestLog[]>([]);
  const [connected, setConnected] = useState(false);

  useEffect(() => setLiveRows([]), [poolId, debouncedModel, status]);
  useEffect(() => {
    if (!live) return;
    const source = new EventSource(`/api/admin/request-logs/stream${query({ pool_id: poolId })}`);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    source.addEventListener('request_log', (event) => {
      const row = JSON.parse((event as MessageEvent<string>).data) as RequestLog;
      setLiveRows((rows) => [row, ...rows.filter((r) => r.id !== row.id)].slice(0, 500));
    });
    source.addEventListener('session_ended', () => {
      source.close();
      setConnected(false);
    });
    return () => {
      source.close();
      setConnected(false);
    };
  }, [live, poolId]);

  const rows = useMemo(() => {
    const matches = (r: RequestLog) =>
      (!debouncedModel || [r.model, r.requested_model].some((m) => m?.toLowerCase() === debouncedModel.toLowerCase())) &&
      (!status || (/^\d{3}$/.test(status) ? String(r.response_status_code) === status : r.status === status));
    const fetched = list.data?.pages.flatMap((p) => p.items) ?? [];
    const seen = new Set(fetched.map((r) => r.id));
    // A live row replaces the fetched one with the same id (a later state of the same request).
    const fresh = liveRows.filter(matches);
    const freshIds = new Set(fresh.map((r) => r.id));
    return [...fresh.filter((r) => !seen.has(r.id) || freshIds.has(r.id)), ...fetched.filter((r) => !freshIds.has(r.id))];
  }, [list.data, liveRows, debouncedModel, status]);

  return (
    <>
      <PageHeader
        title="Request logs"
        description="Metadata of every request through the gateway (never prompts or answers)."
        actions={
          <Group gap="xs">
            <Switch label="Live" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} />
            {live ? (
              <Tooltip label={connected ? 'New requests appear within seconds' : 'Connecting…'}>
                <Badge color={connected ? 'green' : 'gray'} variant="dot" data-testid="live-status">
                  {connected ? 'live' : 'connecting'}
                </Badge>
              </Tooltip>
            ) : null}
          </Group>
        }
      />
      <Group mb="md" align="flex-end">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
        <TextInput label="Model" placeholder="e.g. gpt-5.4" value={model} onChange={(e) => setModel(e.currentTarget.value)} w={200} />
        <Select label="Status" placeholder="Any" data={STATUSES} value={status} onChange={setStatus} clearable w={180} />
        <Button variant="default" onClick={() => { setLiveRows([]); void list.refetch(); }}>Refresh</Button>
      </Group>
      {list.isLoading ? <Loading /> : list.error ? <ErrorNote error={list.error} retry={() => void list.refetch()} /> : rows.length === 0 ? (
        <EmptyState title="No requests yet">
          {poolId || model || status ? 'Nothing matches these filters. Clear them to see every request.' : 'Send a request with a Pool API key (API keys page) and it shows up here within seconds while Live is on.'}
        </EmptyState>
      ) : (
        <>
          <Table.ScrollContainer minWidth={980}>
            <Table striped highlightOnHover data-testid="request-log-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Time</Table.Th>
                  <Table.Th>Model</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>HTTP</Table.Th>
                  <Table.Th>Key</Table.Th>
                  <Table.Th>Account</Table.Th>
                  <Table.Th>Latency</Table.Th>
                  <Table.Th>Tokens</Table.Th>
                  <Table.Th>Request id</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((r) => (
                  <Table.Tr key={r.id}>
                    <Table.Td style={{ whiteSpace: 'nowrap' }}>{formatTime(r.admitted_at)}</Table.Td>
                    <Table.Td style={{ whiteSpace: 'nowrap' }}>{r.model ?? r.requested_model ?? '—'}</Table.Td>
                    <Table.Td>
                      <StateBadge state={r.status} />
                      {r.last_error_code ? <Text size="xs" c="red">{r.last_error_code}</Text> : null}
                    </Table.Td>
                    <Table.Td>{r.response_status_code ?? '—'}</Table.Td>
                    <Table.Td>{r.api_key_label ?? r.api_key_prefix ?? '—'}</Table.Td>
                    <Table.Td>{r.account_label ?? '—'}</Table.Td>
                    <Table.Td>{r.latency_ms == null ? '—' : `${formatNumber(r.latency_ms)} ms`}</Table.Td>
                    <Table.Td>{formatNumber(r.tokens?.total)}</Table.Td>
                    <Table.Td>
                      <Text size="xs" ff="monospace">{r.correlation_id}</Text>
                      {typeof r.metadata?.client_request_id === 'string' && r.metadata.client_request_id !== r.correlation_id ? (
                        <Text size="xs" ff="monospace" c="dimmed" title="x-request-id returned to the client">
                          client: {r.metadata.client_request_id}
                        </Text>
                      ) : null}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <LoadOlder list={list} label="Load older requests" />
        </>
      )}
    </>
  );
}
