import { AreaChart, BarChart, DonutChart } from '@mantine/charts';
import { Anchor, Code, Group, Paper, Progress, SegmentedControl, SimpleGrid, Stack, Table, Text, Title, Tooltip } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { ApiError, getKeyObservatory, OBSERVATORY_WINDOWS, type KeyObservatory, type ObservatoryLimit, type ObservatoryWindow } from '../api.ts';
import { CostText, EmptyState, ErrorNote, Loading, PageHeader, StateBadge, formatUsd, poolName, useNow, usePools } from '../components.tsx';
import { formatNumber, formatTime, relative } from '../format.ts';

const WINDOW_LABELS: Record<ObservatoryWindow, string> = { '1h': 'last hour', '5h': 'last 5 hours', '24h': 'last 24 hours', '7d': 'last 7 days' };
const DEFAULT_WINDOW: ObservatoryWindow = '24h';
const isWindow = (value: string | null): value is ObservatoryWindow => (OBSERVATORY_WINDOWS as readonly string[]).includes(value ?? '');

const LIMIT_NAMES: Record<ObservatoryLimit['field'], string> = {
  max_requests_per_minute: 'Requests per minute',
  max_tokens_per_day: 'Tokens per UTC day',
  max_tokens_per_week: 'Tokens per rolling 7 days',
  max_input_tokens_per_request: 'Input tokens per request',
  max_output_tokens_per_request: 'Output tokens per request',
};
const MODEL_COLORS = ['indigo.6', 'teal.6', 'orange.6', 'grape.6', 'cyan.6', 'pink.6', 'lime.6', 'blue.6', 'yellow.6', 'red.6', 'violet.6', 'green.6'];
const NO_MODEL = '(no model)';

const percent = (ratio: number | null) => (ratio == null ? '—' : `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}%`);
const usd = (value: number) => formatUsd(value);

/** Bucket start as a short axis label: the time of day, with the date when the window spans days. */
function bucketLabel(start: string, window: ObservatoryWindow): string {
  const d = new Date(start);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return window === '7d' ? `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${time}` : time;
}

/**
 * The Observatory of one Pool API key (issue 10): what the key did over a window — KPIs, traffic,
 * tokens and cost over time, the model mix, each limit with its headroom, and the latest outcomes.
 * The window lives in `?window=` so a link reopens the same view.
 */
export function KeyObservatoryPage() {
  const { id = '' } = useParams();
  const [search, setSearch] = useSearchParams();
  const asked = search.get('window');
  const chosen = isWindow(asked) ? asked : DEFAULT_WINDOW;
  const setWindow = (value: string) =>
    setSearch(
      (prev) => {
        const next = new URLSearchParams(prev);
        next.set('window', value);
        return next;
      },
      { replace: true },
    );
  const observatory = useQuery({
    queryKey: ['key-observatory', id, chosen],
    queryFn: () => getKeyObservatory(id, chosen),
    refetchInterval: 15_000,
    // Switching the window keeps the current view on screen until the new one arrives.
    placeholderData: (previous) => (previous?.key.id === id ? previous : undefined),
    // A missing key or a bad id will not fix itself.
    retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
  });
  const pools = usePools();
  const data = observatory.data;

  const back = (
    <Anchor component={Link} to="/api-keys" size="sm">
      ← All API keys
    </Anchor>
  );
  const windowPicker = (
    <SegmentedControl
      value={chosen}
      onChange={setWindow}
      data={OBSERVATORY_WINDOWS.map((w) => ({ value: w, label: w }))}
      aria-label="Window"
      data-testid="observatory-window"
    />
  );

  if (observatory.isLoading) return <Loading label="Loading the key's observatory…" />;
  if (observatory.error && !data) {
    const missing = observatory.error instanceof ApiError && (observatory.error.code === 'not_found' || observatory.error.status === 404);
    return (
      <>
        <PageHeader title="API key observatory" actions={back} />
        {missing ? (
          <EmptyState title="This API key does not exist" action={back}>
            It may have been deleted, or the link is wrong. Pick a key from the API keys page to see its usage.
          </EmptyState>
        ) : (
          <ErrorNote error={observatory.error} retry={() => void observatory.refetch()} />
        )}
      </>
    );
  }
  if (!data) return null;

  const { key, totals } = data;
  const empty = totals.requests === 0;
  return (
    <>
      <PageHeader
        title={key.label ?? key.prefix}
        description={
          <Group gap="xs" component="span" wrap="wrap" data-testid="observatory-key">
            <Code>{key.prefix}</Code>
            <span>in pool {poolName(pools.data, key.pool_id)}</span>
            <StateBadge state={key.status} />
            <span>· {WINDOW_LABELS[data.window]}, {formatTime(data.from)} – {formatTime(data.to)}</span>
          </Group>
        }
        actions={back}
      />
      <Group mb="md" justify="space-between" align="center">
        {windowPicker}
        <Text size="xs" c="dimmed" role="status">
          {observatory.isPlaceholderData ? `Loading the ${WINDOW_LABELS[chosen]}…` : 'Refreshes every 15 s. Prompts and answers are never stored.'}
        </Text>
      </Group>
      {observatory.error ? <ErrorNote error={observatory.error} retry={() => void observatory.refetch()} /> : null}

      <SimpleGrid cols={{ base: 2, sm: 3, xl: 6 }} mb="lg">
        <Kpi label="Requests" value={formatNumber(totals.requests)} hint={`${formatNumber(totals.failed)} failed`} testId="observatory-requests" />
        <Kpi label="Success rate" value={percent(totals.success_rate)} hint={`${formatNumber(totals.succeeded)} succeeded`} testId="observatory-success" />
        <Kpi
          label="Tokens"
          value={formatNumber(totals.total_tokens)}
          hint={`${formatNumber(totals.fresh_input_tokens)} fresh · ${formatNumber(totals.cached_input_tokens)} cached (${percent(totals.cache_rate)}) · ${formatNumber(totals.output_tokens)} out`}
          testId="observatory-tokens"
        />
        <Kpi label="Cost" value={<CostText usd={totals.cost_usd} unpriced={totals.unpriced_requests} />} hint={totals.priced ? 'USD, imported OpenAI prices' : `${totals.unpriced_requests} request(s) unpriced`} testId="observatory-cost" />
        <Kpi label="Avg latency" value={totals.avg_latency_ms == null ? '—' : `${formatNumber(totals.avg_latency_ms)} ms`} hint="admission to last byte" testId="observatory-latency" />
        <Kpi label="Throughput" value={totals.tokens_per_second == null ? '—' : `${formatNumber(totals.tokens_per_second)} tok/s`} hint="output tokens per second of request time" testId="observatory-throughput" />
      </SimpleGrid>

      {empty ? (
        <EmptyState title={`No requests from this key in the ${WINDOW_LABELS[data.window]}`} action={data.window === '7d' ? <Anchor component={Link} to="/request-logs">Open the request logs</Anchor> : null}>
          {data.window === '7d'
            ? 'Give the key to a client (OPENAI_API_KEY, with the gateway URL as the base URL); its requests show here within seconds.'
            : 'Pick a longer window above, or send a request with this key; it shows here within seconds.'}
        </EmptyState>
      ) : (
        <Charts data={data} />
      )}

      <Title order={2} size="h4" mt="xl" mb="sm">
        Limits
      </Title>
      <Limits limits={data.limits} />

      {empty ? null : (
        <>
          <Title order={2} size="h4" mt="xl" mb="sm">
            Recent requests
          </Title>
          <Recent data={data} />
        </>
      )}
    </>
  );
}

function Kpi({ label, value, hint, testId }: { label: string; value: ReactNode; hint?: string; testId?: string }) {
  return (
    <Paper withBorder p="md" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} data-testid={testId ? `${testId}-value` : undefined}>
        {value}
      </Text>
      {hint ? (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      ) : null}
    </Paper>
  );
}

function Charts({ data }: { data: KeyObservatory }) {
  const rows = data.series.map((b) => ({
    at: bucketLabel(b.start, data.window),
    Succeeded: b.succeeded,
    Failed: b.failed,
    // Still running, or ended some other way: counted, neither succeeded nor failed.
    Other: Math.max(0, b.requests - b.succeeded - b.failed),
    Fresh: b.fresh_input_tokens,
    Cached: b.cached_input_tokens,
    Output: b.output_tokens,
    Cost: b.cost_usd,
  }));
  const withOther = rows.some((r) => r.Other > 0);
  const models = data.models.map((m, i) => ({ name: m.model ?? NO_MODEL, value: m.requests, color: MODEL_COLORS[i % MODEL_COLORS.length]! }));
  const bucket = data.bucket_seconds >= 3600 ? `${data.bucket_seconds / 3600} h` : `${data.bucket_seconds / 60} min`;
  return (
    <>
      <SimpleGrid cols={{ base: 1, md: 2, xl: 3 }} mb="lg">
        <Paper withBorder p="md" data-testid="observatory-requests-chart">
          <Title order={2} size="h5" mb="sm">
            Requests per {bucket}
          </Title>
          <BarChart
            h={220}
            data={rows}
            dataKey="at"
            type="stacked"
            series={[{ name: 'Succeeded', color: 'teal.6' }, { name: 'Failed', color: 'red.6' }, ...(withOther ? [{ name: 'Other', color: 'gray.5' }] : [])]}
            withLegend
          />
        </Paper>
        <Paper withBorder p="md" data-testid="observatory-tokens-chart">
          <Title order={2} size="h5" mb="sm">
            Tokens per {bucket}
          </Title>
          <AreaChart
            h={220}
            data={rows}
            dataKey="at"
            type="stacked"
            series={[{ name: 'Fresh', label: 'Fresh input', color: 'indigo.6' }, { name: 'Cached', label: 'Cached input', color: 'cyan.5' }, { name: 'Output', color: 'grape.6' }]}
            curveType="monotone"
            withLegend
          />
        </Paper>
        <Paper withBorder p="md" data-testid="observatory-cost-chart">
          <Title order={2} size="h5" mb="sm">
            Cost per {bucket} (USD)
          </Title>
          <BarChart h={220} data={rows} dataKey="at" series={[{ name: 'Cost', color: 'orange.6' }]} valueFormatter={usd} yAxisProps={{ width: 80 }} />
        </Paper>
      </SimpleGrid>
      <Paper withBorder p="md" mb="lg" data-testid="observatory-models">
        <Title order={2} size="h5" mb="sm">
          Model mix
        </Title>
        <Group align="flex-start" gap="xl" wrap="wrap">
          <DonutChart data={models} size={180} thickness={28} withTooltip tooltipDataSource="segment" chartLabel={`${formatNumber(data.totals.requests)} req`} />
          <Table.ScrollContainer minWidth={560} style={{ flex: 1 }}>
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Model</Table.Th>
                  <Table.Th ta="right">Requests</Table.Th>
                  <Table.Th ta="right">Share</Table.Th>
                  <Table.Th ta="right">Tokens</Table.Th>
                  <Table.Th ta="right">Cached input</Table.Th>
                  <Table.Th ta="right">Cost</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.models.map((m, i) => (
                  <Table.Tr key={m.model ?? NO_MODEL}>
                    <Table.Td>
                      <Group gap={6} wrap="nowrap">
                        <Swatch color={MODEL_COLORS[i % MODEL_COLORS.length]!} />
                        <Text size="sm">{m.model ?? NO_MODEL}</Text>
                      </Group>
                    </Table.Td>
                    <Table.Td ta="right">{formatNumber(m.requests)}</Table.Td>
                    <Table.Td ta="right">{percent(m.share)}</Table.Td>
                    <Table.Td ta="right">{formatNumber(m.total_tokens)}</Table.Td>
                    <Table.Td ta="right">{formatNumber(m.cached_input_tokens)}</Table.Td>
                    <Table.Td ta="right">{formatUsd(m.cost_usd)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Group>
      </Paper>
    </>
  );
}

const Swatch = ({ color }: { color: string }) => {
  const [name, shade] = color.split('.');
  return <span aria-hidden="true" style={{ display: 'inline-block', width: 10, height: 10, borderRadius: 2, background: `var(--mantine-color-${name}-${shade})` }} />;
};

function Limits({ limits }: { limits: ObservatoryLimit[] }) {
  if (limits.length === 0) {
    return (
      <EmptyState title="No limits on this key">
        The key can use whatever its pool's accounts allow. Set per-key limits (requests per minute, tokens per day or week, per-request caps) with{' '}
        <code>codex-pooler keys limits &lt;key&gt; --rpm 60 --tokens-per-day 1000000</code>; they are enforced before anything is sent upstream.
      </EmptyState>
    );
  }
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table striped data-testid="observatory-limits">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Applies to</Table.Th>
            <Table.Th>Limit</Table.Th>
            <Table.Th ta="right">Used</Table.Th>
            <Table.Th ta="right">Max</Table.Th>
            <Table.Th ta="right">Remaining</Table.Th>
            <Table.Th>Headroom</Table.Th>
            <Table.Th>Resets</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {limits.map((l) => (
            <Table.Tr key={`${l.scope}:${l.model ?? ''}:${l.field}`}>
              <Table.Td>{l.scope === 'model' ? <Code>{l.model}</Code> : 'every model'}</Table.Td>
              <Table.Td>{LIMIT_NAMES[l.field]}</Table.Td>
              <Table.Td ta="right">{l.used == null ? '—' : formatNumber(l.used)}</Table.Td>
              <Table.Td ta="right">{formatNumber(l.max)}</Table.Td>
              <Table.Td ta="right">{l.remaining == null ? '—' : formatNumber(l.remaining)}</Table.Td>
              <Table.Td miw={140}>{l.used == null ? <Text size="xs" c="dimmed">checked on each request</Text> : <Headroom used={l.used} max={l.max} />}</Table.Td>
              <Table.Td>{l.resets_at ? <Countdown at={l.resets_at} /> : '—'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function Headroom({ used, max }: { used: number; max: number }) {
  const share = max > 0 ? Math.min(100, (used / max) * 100) : 100;
  const color = share >= 90 ? 'red' : share >= 70 ? 'yellow' : 'teal';
  return (
    <Tooltip label={`${share.toFixed(0)}% used`}>
      <Progress value={share} color={color} size="sm" aria-label={`${share.toFixed(0)}% of the limit used`} />
    </Tooltip>
  );
}

/** Its own clock, so only the countdown re-renders each second, not the charts. */
function Countdown({ at }: { at: string }) {
  const now = useNow(1000);
  return (
    <Tooltip label={formatTime(at)}>
      <Text size="sm" span>
        {new Date(at).getTime() <= now ? 'now' : relative(at, now)}
      </Text>
    </Tooltip>
  );
}

function Recent({ data }: { data: KeyObservatory }) {
  const now = useNow();
  return (
    <Table.ScrollContainer minWidth={860}>
      <Table striped highlightOnHover data-testid="observatory-recent">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>When</Table.Th>
            <Table.Th>Model</Table.Th>
            <Table.Th>Endpoint</Table.Th>
            <Table.Th>Outcome</Table.Th>
            <Table.Th ta="right">Latency</Table.Th>
            <Table.Th ta="right">Tokens</Table.Th>
            <Table.Th ta="right">Cost</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {data.recent.map((r, i) => (
            <Table.Tr key={`${r.at}:${i}`}>
              <Table.Td>
                <Tooltip label={formatTime(r.at)}>
                  <Text size="sm" span>
                    {relative(r.at, now)}
                  </Text>
                </Tooltip>
              </Table.Td>
              <Table.Td>{r.model ?? NO_MODEL}</Table.Td>
              <Table.Td>
                <Code>{r.endpoint}</Code>
              </Table.Td>
              <Table.Td>
                <Group gap={6} wrap="nowrap">
                  <StateBadge state={r.status} />
                  {r.status_code != null ? (
                    <Text size="xs" c="dimmed">
                      {r.status_code}
                    </Text>
                  ) : null}
                </Group>
              </Table.Td>
              <Table.Td ta="right">{r.latency_ms == null ? '—' : `${formatNumber(r.latency_ms)} ms`}</Table.Td>
              <Table.Td ta="right">{formatNumber(r.total_tokens)}</Table.Td>
              <Table.Td ta="right">{formatUsd(r.cost_usd)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Stack gap={0} mt="xs">
        <Text size="xs" c="dimmed">
          The latest {data.recent.length} requests in this window. Every request, with its error codes, is in{' '}
          <Anchor component={Link} to="/request-logs" size="xs">
            Request logs
          </Anchor>
          .
        </Text>
      </Stack>
    </Table.ScrollContainer>
  );
}
