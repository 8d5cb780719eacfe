import { BarChart } from '@mantine/charts';
import { Group, Paper, SegmentedControl, SimpleGrid, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { get, query, type Usage } from '../api.ts';
import { CostText, EmptyState, ErrorNote, Loading, PageHeader, PoolSelect, formatUsd, zeroUsageRow } from '../components.tsx';
import { fillDays, formatNumber, isoDaysAgo } from '../format.ts';

type Grouping = 'day' | 'model' | 'api_key' | 'account';

/** The ledger usage report (same numbers as `codex-pooler usage`), refreshed while the page is open. */
export function useUsage(groupBy: Grouping, poolId: string | null, days: number) {
  return useQuery({
    queryKey: ['usage', groupBy, poolId ?? '', days],
    queryFn: () => get<Usage>(`/usage${query({ group_by: groupBy, pool_id: poolId, from: isoDaysAgo(days) })}`),
    refetchInterval: 15_000,
  });
}

const NONE: Record<Grouping, string> = { day: '(no day)', model: '(no model)', api_key: '(no key)', account: '(no account)' };
const usd = (value: number) => formatUsd(value);

export function UsagePage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const [days, setDays] = useState('7');
  const [breakdown, setBreakdown] = useState<Exclude<Grouping, 'day'>>('model');
  const byDay = useUsage('day', poolId, Number(days));
  const byModel = useUsage('model', poolId, Number(days));
  const byGroup = useUsage(breakdown, poolId, Number(days));

  const dayRows = (byDay.data ? fillDays(byDay.data.rows, byDay.data.from, byDay.data.to, zeroUsageRow) : []).map((r) => ({
    day: (r.key ?? '').slice(5),
    Succeeded: r.succeeded,
    Failed: r.failed,
    Input: r.input_tokens - r.cached_input_tokens,
    Cached: r.cached_input_tokens,
    Output: r.output_tokens,
    Cost: r.cost_usd,
  }));
  const modelRows = (byModel.data?.rows ?? []).map((r) => ({ model: r.key ?? NONE.model, Tokens: r.total_tokens, Cost: r.cost_usd }));
  const totals = byDay.data?.totals;

  return (
    <>
      <PageHeader title="Usage" description="Requests, tokens and cost from the ledger, per day, model, API key and account. Costs use the imported OpenAI prices." />
      <Group mb="md" align="flex-end">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
        <SegmentedControl value={days} onChange={setDays} data={[{ value: '7', label: '7 days' }, { value: '30', label: '30 days' }, { value: '90', label: '90 days' }]} aria-label="Period" />
      </Group>
      {byDay.error ? <ErrorNote error={byDay.error} retry={() => void byDay.refetch()} /> : null}
      {byDay.isLoading ? <Loading /> : (totals?.requests ?? 0) === 0 ? (
        <EmptyState title="No usage in this period">Send requests with a Pool API key (API keys page); they are counted here within seconds.</EmptyState>
      ) : (
        <>
          <Text size="sm" mb="md" data-testid="usage-totals">
            {formatNumber(totals!.requests)} {totals!.requests === 1 ? 'request' : 'requests'} ({formatNumber(totals!.failed)} failed), {formatNumber(totals!.total_tokens)} {totals!.total_tokens === 1 ? 'token' : 'tokens'}, <CostText usd={totals!.cost_usd} unpriced={totals!.unpriced_requests} /> cost
          </Text>
          <SimpleGrid cols={{ base: 1, md: 2, xl: 3 }} mb="lg">
            <Paper withBorder p="md" data-testid="usage-requests-chart">
              <Title order={2} size="h5" mb="sm">Requests per day</Title>
              <BarChart h={220} data={dayRows} dataKey="day" type="stacked" series={[{ name: 'Succeeded', color: 'teal.6' }, { name: 'Failed', color: 'red.6' }]} withLegend />
            </Paper>
            <Paper withBorder p="md" data-testid="usage-tokens-chart">
              <Title order={2} size="h5" mb="sm">Tokens per day</Title>
              <BarChart h={220} data={dayRows} dataKey="day" type="stacked" series={[{ name: 'Input', color: 'indigo.6' }, { name: 'Cached', color: 'cyan.5' }, { name: 'Output', color: 'grape.6' }]} withLegend />
            </Paper>
            <Paper withBorder p="md" data-testid="usage-cost-chart">
              <Title order={2} size="h5" mb="sm">Cost per day (USD)</Title>
              <BarChart h={220} data={dayRows} dataKey="day" series={[{ name: 'Cost', color: 'orange.6' }]} valueFormatter={usd} yAxisProps={{ width: 80 }} />
            </Paper>
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, md: 2 }} mb="lg">
            <Paper withBorder p="md" data-testid="usage-model-chart">
              <Title order={2} size="h5" mb="sm">Tokens by model</Title>
              <BarChart h={220} data={modelRows} dataKey="model" series={[{ name: 'Tokens', color: 'indigo.6' }]} />
            </Paper>
            <Paper withBorder p="md" data-testid="usage-model-cost-chart">
              <Title order={2} size="h5" mb="sm">Cost by model (USD)</Title>
              <BarChart h={220} data={modelRows} dataKey="model" series={[{ name: 'Cost', color: 'orange.6' }]} valueFormatter={usd} yAxisProps={{ width: 80 }} />
            </Paper>
          </SimpleGrid>
          <Group justify="space-between" mb="sm">
            <Title order={2} size="h5">Breakdown</Title>
            <SegmentedControl
              value={breakdown}
              onChange={(v) => setBreakdown(v as typeof breakdown)}
              data={[{ value: 'model', label: 'By model' }, { value: 'api_key', label: 'By API key' }, { value: 'account', label: 'By account' }]}
              aria-label="Break usage down by"
            />
          </Group>
          <Breakdown usage={byGroup.data} none={NONE[breakdown]} />
        </>
      )}
    </>
  );
}

function Breakdown({ usage, none }: { usage: Usage | undefined; none: string }) {
  if (!usage) return <Loading />;
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table striped data-testid="usage-breakdown">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th ta="right">Requests</Table.Th>
            <Table.Th ta="right">Failed</Table.Th>
            <Table.Th ta="right">Input</Table.Th>
            <Table.Th ta="right">Cached</Table.Th>
            <Table.Th ta="right">Output</Table.Th>
            <Table.Th ta="right">Total tokens</Table.Th>
            <Table.Th ta="right">Cost</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {usage.rows.map((r) => (
            <Table.Tr key={r.key ?? 'none'}>
              <Table.Td>{r.label ?? r.key ?? none}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.requests)}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.failed)}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.input_tokens)}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.cached_input_tokens)}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.output_tokens)}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.total_tokens)}</Table.Td>
              <Table.Td ta="right"><CostText usd={r.cost_usd} unpriced={r.unpriced_requests} /></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
        <Table.Tfoot>
          <Table.Tr>
            <Table.Th>Total</Table.Th>
            <Table.Th ta="right">{formatNumber(usage.totals.requests)}</Table.Th>
            <Table.Th ta="right">{formatNumber(usage.totals.failed)}</Table.Th>
            <Table.Th ta="right">{formatNumber(usage.totals.input_tokens)}</Table.Th>
            <Table.Th ta="right">{formatNumber(usage.totals.cached_input_tokens)}</Table.Th>
            <Table.Th ta="right">{formatNumber(usage.totals.output_tokens)}</Table.Th>
            <Table.Th ta="right">{formatNumber(usage.totals.total_tokens)}</Table.Th>
            <Table.Th ta="right"><CostText usd={usage.totals.cost_usd} unpriced={usage.totals.unpriced_requests} /></Table.Th>
          </Table.Tr>
        </Table.Tfoot>
      </Table>
    </Table.ScrollContainer>
  );
}
