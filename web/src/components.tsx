import { Alert, Badge, Button, Center, Group, Loader, Paper, Progress, Select, Stack, Text, Title, Tooltip } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState, type ReactNode } from 'react';
import { errorMessage, get, type Pool, type QuotaWindow, type UsageRow } from './api.ts';
import { relative, windowName } from './format.ts';

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <Group justify="space-between" align="flex-start" mb="lg" wrap="wrap">
      <div>
        <Title order={1} size="h2">
          {title}
        </Title>
        {description ? (
          <Text c="dimmed" size="sm" mt={4}>
            {description}
          </Text>
        ) : null}
      </div>
      {actions ? <Group gap="sm">{actions}</Group> : null}
    </Group>
  );
}

/** "Load older …" under a cursor-paginated list; nothing once the last page is in. */
export function LoadOlder({ list, label }: { list: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => Promise<unknown> }; label: string }) {
  if (!list.hasNextPage) return null;
  return (
    <Group justify="center" mt="md">
      <Button variant="default" loading={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
        {label}
      </Button>
    </Group>
  );
}

export function EmptyState({ title, children, action }: { title: string; children: ReactNode; action?: ReactNode }) {
  return (
    <Paper withBorder p="xl" radius="md">
      <Stack align="center" gap="xs" ta="center">
        <Text fw={600}>{title}</Text>
        <Text c="dimmed" size="sm" maw={520}>
          {children}
        </Text>
        {action}
      </Stack>
    </Paper>
  );
}

export const Loading = ({ label = 'Loading…' }: { label?: string }) => (
  <Center p="xl" role="status" aria-live="polite">
    <Group gap="sm">
      <Loader size="sm" />
      <Text size="sm" c="dimmed">
        {label}
      </Text>
    </Group>
  </Center>
);

export const ErrorNote = ({ error, retry }: { error: unknown; retry?: () => void }) => (
  <Alert color="red" title="Something went wrong" role="alert">
    <Stack gap="xs" align="flex-start">
      <Text size="sm">{errorMessage(error)}</Text>
      {retry ? (
        <Button size="xs" variant="light" color="red" onClick={retry}>
          Try again
        </Button>
      ) : null}
    </Stack>
  </Alert>
);

const STATE_COLORS: Record<string, string> = {
  active: 'green',
  succeeded: 'green',
  success: 'green',
  cooling_down: 'yellow',
  in_progress: 'blue',
  accepted: 'blue',
  paused: 'gray',
  disabled: 'gray',
  archived: 'gray',
  revoked: 'gray',
  expired: 'gray',
  cancelled: 'gray',
  pending: 'yellow',
  failed: 'red',
  failure: 'red',
  rejected: 'orange',
  refresh_failed: 'red',
  reauth_required: 'red',
};

export const StateBadge = ({ state }: { state: string }) => (
  <Badge color={STATE_COLORS[state] ?? 'gray'} variant="light" radius="sm" styles={{ root: { flexShrink: 0, maxWidth: 'none' }, label: { overflow: 'visible' } }}>
    {state.replaceAll('_', ' ')}
  </Badge>
);

/** Re-renders every `ms` so countdowns move. */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function QuotaBar({ window, now }: { window: QuotaWindow; now: number }) {
  if (!window) return <Text size="xs" c="dimmed">no report yet</Text>;
  const used = Math.max(0, Math.min(100, window.used_percent));
  const color = used >= 90 ? 'red' : used >= 70 ? 'yellow' : 'teal';
  return (
    <Stack gap={2} miw={150}>
      <Group justify="space-between" gap="xs">
        <Text size="xs">
          {windowName(window.window_minutes)}: {Math.round(used)}% used
        </Text>
        {window.stale ? (
          <Tooltip label="Last report is older than 15 minutes">
            <Badge size="xs" color="gray" variant="outline">
              stale
            </Badge>
          </Tooltip>
        ) : null}
      </Group>
      <Progress value={used} color={color} size="sm" aria-label={`${windowName(window.window_minutes)} quota used`} />
      <Text size="xs" c="dimmed">
        resets {relative(window.resets_at, now)}
      </Text>
    </Stack>
  );
}

export function usePools() {
  return useQuery({ queryKey: ['pools'], queryFn: () => get<{ items: Pool[] }>('/pools').then((r) => r.items) });
}

/** A Pool picker; `allLabel` adds an "every pool" choice with the empty value. */
export function PoolSelect({ value, onChange, allLabel, label = 'Pool', required }: { value: string | null; onChange: (value: string | null) => void; allLabel?: string; label?: string; required?: boolean }) {
  const pools = usePools();
  const active = (pools.data ?? []).filter((p) => p.status !== 'archived');
  const data = [...(allLabel ? [{ value: '', label: allLabel }] : []), ...active.map((p) => ({ value: p.id, label: `${p.name} (${p.slug})` }))];
  return (
    <Select
      label={label}
      data={data}
      value={value ?? ''}
      onChange={(v) => onChange(v ? v : null)}
      allowDeselect={false}
      required={required}
      placeholder={pools.isLoading ? 'Loading pools…' : 'Choose a pool'}
      searchable
      w={260}
    />
  );
}

export const poolName = (pools: Pool[] | undefined, id: string | null) => (id ? (pools?.find((p) => p.id === id)?.name ?? id.slice(0, 8)) : '—');

/** US dollars; sub-cent amounts keep their digits (a single request often costs a fraction of a cent). */
export const formatUsd = (usd: number | null | undefined) =>
  usd == null ? '—' : `$${usd.toFixed(usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2)}`;

/** A day with no traffic, so charts show quiet days as zero. */
export const zeroUsageRow = (day: string): UsageRow => ({
  key: day,
  label: null,
  requests: 0,
  succeeded: 0,
  failed: 0,
  input_tokens: 0,
  cached_input_tokens: 0,
  output_tokens: 0,
  reasoning_tokens: 0,
  total_tokens: 0,
  settled_cost_micros: 0,
  estimated_cost_micros: 0,
  cost_usd: 0,
  unpriced_requests: 0,
  priced: true,
});

/** A cost with a marker when some requests had no price (their tokens count, their cost does not). */
export function CostText({ usd, unpriced }: { usd: number; unpriced: number }) {
  if (unpriced === 0) return <>{formatUsd(usd)}</>;
  return (
    <Tooltip label={`${unpriced} request(s) had no price: their tokens are counted, their cost is not`}>
      <span>
        {formatUsd(usd)}
        <Text span c="dimmed" aria-label="incomplete: some requests unpriced"> *</Text>
      </span>
    </Tooltip>
  );
}
