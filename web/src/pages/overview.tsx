import { AreaChart } from '@mantine/charts';
import { Anchor, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { get, query, type Account, type Usage } from '../api.ts';
import { CostText, EmptyState, ErrorNote, Loading, PageHeader, QuotaBar, StateBadge, formatUsd, useNow, zeroUsageRow } from '../components.tsx';
import { fillDays, formatNumber, isoDaysAgo, relative } from '../format.ts';

export function OverviewPage() {
  const usage = useQuery({ queryKey: ['usage', 'day', '', 14], queryFn: () => get<Usage>(`/usage${query({ group_by: 'day', from: isoDaysAgo(14) })}`), refetchInterval: 15_000 });
  const accounts = useQuery({ queryKey: ['accounts', ''], queryFn: () => get<{ items: Account[] }>('/accounts').then((r) => r.items), refetchInterval: 30_000 });
  const now = useNow();

  const rows = usage.data
    ? fillDays(usage.data.rows, usage.data.from, usage.data.to, zeroUsageRow).map((r) => ({ day: (r.key ?? '').slice(5), Requests: r.requests, Errors: r.failed, Tokens: r.total_tokens, Cost: r.cost_usd }))
    : [];
  const empty = (usage.data?.totals.requests ?? 0) === 0;
  return (
    <>
      <PageHeader title="Overview" description="Traffic over the last 14 days and the state of every account you can see." />
      {usage.error ? <ErrorNote error={usage.error} /> : null}
      <SimpleGrid cols={{ base: 2, sm: 5 }} mb="lg">
        <Stat label="Requests" value={formatNumber(usage.data?.totals.requests)} />
        <Stat label="Succeeded" value={formatNumber(usage.data?.totals.succeeded)} />
        <Stat label="Errors" value={formatNumber(usage.data?.totals.failed)} />
        <Stat label="Tokens" value={formatNumber(usage.data?.totals.total_tokens)} />
        <Stat label="Cost" value={usage.data ? <CostText usd={usage.data.totals.cost_usd} unpriced={usage.data.totals.unpriced_requests} /> : '—'} testId="overview-cost" />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2, xl: 3 }} mb="xl">
        <Paper withBorder p="md" data-testid="overview-requests-chart">
          <Title order={2} size="h5" mb="sm">
            Requests and errors per day
          </Title>
          {usage.isLoading ? <Loading /> : empty ? <Text c="dimmed" size="sm">No requests yet. Send one with a Pool API key and it shows here.</Text> : (
            <AreaChart h={220} data={rows} dataKey="day" series={[{ name: 'Requests', color: 'indigo.6' }, { name: 'Errors', color: 'red.6' }]} curveType="monotone" withLegend />
          )}
        </Paper>
        <Paper withBorder p="md" data-testid="overview-tokens-chart">
          <Title order={2} size="h5" mb="sm">
            Tokens per day
          </Title>
          {usage.isLoading ? <Loading /> : empty ? <Text c="dimmed" size="sm">No tokens used yet.</Text> : (
            <AreaChart h={220} data={rows} dataKey="day" series={[{ name: 'Tokens', color: 'teal.6' }]} curveType="monotone" withLegend />
          )}
        </Paper>
        <Paper withBorder p="md" data-testid="overview-cost-chart">
          <Title order={2} size="h5" mb="sm">
            Cost per day (USD)
          </Title>
          {usage.isLoading ? <Loading /> : empty ? <Text c="dimmed" size="sm">No cost yet: costs come from each request's tokens and the model's price.</Text> : (
            <AreaChart h={220} data={rows} dataKey="day" series={[{ name: 'Cost', color: 'orange.6' }]} valueFormatter={(v) => formatUsd(v)} yAxisProps={{ width: 80 }} curveType="monotone" withLegend />
          )}
        </Paper>
      </SimpleGrid>
      <Title order={2} size="h4" mb="sm">
        Accounts
      </Title>
      {accounts.isLoading ? <Loading /> : accounts.error ? <ErrorNote error={accounts.error} /> : (accounts.data ?? []).length === 0 ? (
        <EmptyState title="No accounts yet" action={<Anchor component={Link} to="/accounts">Import an account</Anchor>}>
          Import an auth.json (written by <code>codex login</code>) into a pool to start serving requests.
        </EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Account</Table.Th>
                <Table.Th>Pool</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Primary window</Table.Th>
                <Table.Th>Secondary window</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {accounts.data!.map((a) => (
                <Table.Tr key={a.id}>
                  <Table.Td>
                    <Stack gap={0}>
                      <Text size="sm">{a.label ?? a.email ?? a.id.slice(0, 8)}</Text>
                      <Text size="xs" c="dimmed">{a.plan ?? 'unknown plan'}</Text>
                    </Stack>
                  </Table.Td>
                  <Table.Td>{a.pool_slug}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      <StateBadge state={a.state} />
                      {a.cooldown_until ? <Text size="xs" c="dimmed">until {relative(a.cooldown_until, now)}</Text> : null}
                    </Group>
                  </Table.Td>
                  <Table.Td><QuotaBar window={a.quota?.primary ?? null} now={now} /></Table.Td>
                  <Table.Td><QuotaBar window={a.quota?.secondary ?? null} now={now} /></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </>
  );
}

const Stat = ({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) => (
  <Paper withBorder p="md" data-testid={testId}>
    <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
      {label}
    </Text>
    <Text size="xl" fw={700}>
      {value}
    </Text>
  </Paper>
);
