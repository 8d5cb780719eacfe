import { Code, Group, Select, Table, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { get, query, type AuditEntry, type Page } from '../api.ts';
import { EmptyState, ErrorNote, Loading, LoadOlder, PageHeader, PoolSelect, StateBadge } from '../components.tsx';
import { formatTime } from '../format.ts';

export function AuditPage() {
  const [action, setAction] = useState('');
  const [outcome, setOutcome] = useState<string | null>(null);
  const [poolId, setPoolId] = useState<string | null>(null);
  const [debouncedAction] = useDebouncedValue(action.trim(), 300);
  const filters = { action: debouncedAction, outcome, pool_id: poolId };
  const list = useInfiniteQuery({
    queryKey: ['audit', filters],
    queryFn: ({ pageParam }) => get<Page<AuditEntry>>(`/audit${query({ ...filters, limit: 50, cursor: pageParam })}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const rows = list.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <>
      <PageHeader title="Audit" description="Every change made by an operator or the CLI: who, what, when and from where. Secrets are never recorded." />
      <Group mb="md" align="flex-end">
        <TextInput label="Action" description="Exact, or a prefix ending in a dot (auth.)" value={action} onChange={(e) => setAction(e.currentTarget.value)} w={240} />
        <Select label="Outcome" placeholder="Any" data={['success', 'failure']} value={outcome} onChange={setOutcome} clearable w={160} />
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
      </Group>
      {list.isLoading ? <Loading /> : list.error ? <ErrorNote error={list.error} retry={() => void list.refetch()} /> : rows.length === 0 ? (
        <EmptyState title="No audit entries">{action || outcome || poolId ? 'Nothing matches these filters.' : 'Changes made here or with the CLI are recorded as they happen.'}</EmptyState>
      ) : (
        <>
          <Table.ScrollContainer minWidth={900}>
            <Table striped highlightOnHover>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>Who</Table.Th>
                  <Table.Th>Action</Table.Th>
                  <Table.Th>Target</Table.Th>
                  <Table.Th>Outcome</Table.Th>
                  <Table.Th>From</Table.Th>
                  <Table.Th>Details</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((e) => (
                  <Table.Tr key={e.id}>
                    <Table.Td>{formatTime(e.occurred_at)}</Table.Td>
                    <Table.Td>{e.actor_label ?? e.actor_type}</Table.Td>
                    <Table.Td><code>{e.action}</code></Table.Td>
                    <Table.Td><Text size="xs">{e.target_type ? `${e.target_type} ${e.target_id?.slice(0, 8) ?? ''}` : '—'}</Text></Table.Td>
                    <Table.Td><StateBadge state={e.outcome} /></Table.Td>
                    <Table.Td>{e.ip_address ?? '—'}</Table.Td>
                    <Table.Td>{e.details && Object.keys(e.details as object).length > 0 ? <Code style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>{JSON.stringify(e.details)}</Code> : '—'}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <LoadOlder list={list} label="Load older entries" />
        </>
      )}
    </>
  );
}
