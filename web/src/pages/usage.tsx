import { BarChart } from '@mantine/charts';
import { Group, Paper, SegmentedControl, SimpleGrid, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { get, query, type Usage } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, PoolSelect } from '../components.tsx';
import { fillDays, formatNumber, isoDaysAgo } from '../format.ts';
import { zeroRow } from './overview.tsx';

function useUsage(groupBy: string, poolId: string | null, days: number) {
  return useQuery({
    queryKey: ['usage', groupBy, poolId ?? '', days],
    queryFn: () => get<Usage>(`/usage${query({ group_by: groupBy, pool_id: poolId, from: isoDaysAgo(days) })}`),
    refetchInterval: 15_000,
  });
}

export function UsagePage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const [days, setDays] = useState('7');
  const byDay = useUsage('day', poolId, Number(days));
  const byModel = useUsage('model', poolId, Number(days));
  const byKey = useUsage('api_key', poolId, Number(days));

  const dayRows = (byDay.data ? fillDays(byDay.data.rows, byDay.data.from, byDay.data.to, zeroRow) : []).map((r) => ({ day: (r.key ?? '').slice(5), Succeeded: r.succeeded, Failed: r.failed, Input: r.tokens.input, Output: r.tokens.output }));
  const modelRows = (byModel.data?.rows ?? []).map((r) => ({ model: r.key ?? '(none)', Requests: r.requests, Tokens: r.tokens.total }));

  return (
    <>
      <PageHeader title="Usage" description={byDay.data?.cost == null && byDay.data?.cost_note ? `Requests and tokens per day, model and key. Cost: ${byDay.data.cost_note}.` : 'Requests and tokens per day, model and key.'} />
      <Group mb="md" align="flex-end">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
        <SegmentedControl value={days} onChange={setDays} data={[{ value: '7', label: '7 days' }, { value: '30', label: '30 days' }, { value: '90', label: '90 days' }]} aria-label="Period" />
      </Group>
      {byDay.error ? <ErrorNote error={byDay.error} /> : null}
      {byDay.isLoading ? <Loading /> : (byDay.data?.totals.requests ?? 0) === 0 ? (
        <EmptyState title="No usage in this period">Send requests with a Pool API key; they are counted here within seconds.</EmptyState>
      ) : (
        <>
          <Text size="sm" mb="md" data-testid="usage-totals">
            {formatNumber(byDay.data!.totals.requests)} requests ({formatNumber(byDay.data!.totals.failed)} failed), {formatNumber(byDay.data!.totals.tokens.total)} tokens
          </Text>
          <SimpleGrid cols={{ base: 1, lg: 2 }} mb="lg">
            <Paper withBorder p="md" data-testid="usage-requests-chart">
              <Title order={2} size="h5" mb="sm">Requests per day</Title>
              <BarChart h={240} data={dayRows} dataKey="day" type="stacked" series={[{ name: 'Succeeded', color: 'teal.6' }, { name: 'Failed', color: 'red.6' }]} withLegend />
            </Paper>
            <Paper withBorder p="md">
              <Title order={2} size="h5" mb="sm">Tokens per day</Title>
              <BarChart h={240} data={dayRows} dataKey="day" type="stacked" series={[{ name: 'Input', color: 'indigo.6' }, { name: 'Output', color: 'grape.6' }]} withLegend />
            </Paper>
            <Paper withBorder p="md" data-testid="usage-model-chart">
              <Title order={2} size="h5" mb="sm">Requests by model</Title>
              <BarChart h={240} data={modelRows} dataKey="model" series={[{ name: 'Requests', color: 'indigo.6' }]} />
            </Paper>
            <Paper withBorder p="md">
              <Title order={2} size="h5" mb="sm">By API key</Title>
              <Breakdown usage={byKey.data} />
            </Paper>
          </SimpleGrid>
          <Title order={2} size="h5" mb="sm">By model</Title>
          <Breakdown usage={byModel.data} />
        </>
      )}
    </>
  );
}

function Breakdown({ usage }: { usage: Usage | undefined }) {
  if (!usage) return <Loading />;
  return (
    <Table striped>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Name</Table.Th>
          <Table.Th ta="right">Requests</Table.Th>
          <Table.Th ta="right">Failed</Table.Th>
          <Table.Th ta="right">Input</Table.Th>
          <Table.Th ta="right">Output</Table.Th>
          <Table.Th ta="right">Total tokens</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {usage.rows.map((r) => (
          <Table.Tr key={r.key ?? 'none'}>
            <Table.Td>{r.label ?? r.key ?? '(none)'}</Table.Td>
            <Table.Td ta="right">{formatNumber(r.requests)}</Table.Td>
            <Table.Td ta="right">{formatNumber(r.failed)}</Table.Td>
            <Table.Td ta="right">{formatNumber(r.tokens.input)}</Table.Td>
            <Table.Td ta="right">{formatNumber(r.tokens.output)}</Table.Td>
            <Table.Td ta="right">{formatNumber(r.tokens.total)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
