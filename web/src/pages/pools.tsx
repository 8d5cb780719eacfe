import { Alert, Button, Group, Menu, Modal, NumberInput, Select, Stack, Switch, Table, Text, TextInput, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, ApiError, del, errorMessage, get, patch, post, type Pool, type PoolRouting, type RoutingStrategy } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, StateBadge, usePools } from '../components.tsx';
import { formatTime } from '../format.ts';
import { useSignedIn } from '../session.tsx';

export function PoolsPage() {
  const session = useSignedIn();
  const canManage = session.auth.permissions['pool.manage'];
  const pools = usePools();
  const client = useQueryClient();
  const [opened, { open, close }] = useDisclosure(false);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Pool | null>(null);
  const [deleting, setDeleting] = useState<Pool | null>(null);
  const [routing, setRouting] = useState<Pool | null>(null);

  const create = useMutation({
    mutationFn: (body: { name: string; slug?: string }) => post<{ pool: Pool }>('/pools', body),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['pools'] });
      close();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const setStatus = useMutation({
    mutationFn: ({ id, status }: { id: string; status: string }) => api('PATCH', `/pools/${id}`, { status }),
    onSettled: () => void client.invalidateQueries({ queryKey: ['pools'] }),
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const slug = String(form.get('slug') ?? '').trim();
    setError(null);
    create.mutate({ name: String(form.get('name')), ...(slug ? { slug } : {}) });
  };

  return (
    <>
      <PageHeader
        title="Pools"
        description="A pool groups upstream accounts; clients reach it with the pool's API keys."
        actions={canManage ? <Button onClick={open}>Create pool</Button> : null}
      />
      {setStatus.error ? <ErrorNote error={setStatus.error} /> : null}
      {pools.isLoading ? <Loading /> : pools.error ? <ErrorNote error={pools.error} retry={() => void pools.refetch()} /> : pools.data!.length === 0 ? (
        <EmptyState title="No pools yet" action={canManage ? <Button onClick={open}>Create your first pool</Button> : null}>
          {canManage ? 'Create a pool, then import accounts into it and mint an API key for your clients.' : 'No pool is assigned to you yet. Ask an instance owner to assign one.'}
        </EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Slug</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Accounts</Table.Th>
                <Table.Th>API keys</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {pools.data!.map((p) => (
                <Table.Tr key={p.id}>
                  <Table.Td>{p.name}</Table.Td>
                  <Table.Td><code>{p.slug}</code></Table.Td>
                  <Table.Td><StateBadge state={p.status} /></Table.Td>
                  <Table.Td>{p.account_count}</Table.Td>
                  <Table.Td>{p.api_key_count}</Table.Td>
                  <Table.Td>{formatTime(p.created_at)}</Table.Td>
                  {canManage ? (
                    <Table.Td>
                      <Menu position="bottom-end">
                        <Menu.Target>
                          <Button size="xs" variant="default" aria-label={`Actions for ${p.name}`}>Actions</Button>
                        </Menu.Target>
                        <Menu.Dropdown>
                          <Menu.Item onClick={() => setEditing(p)}>Rename</Menu.Item>
                          <Menu.Item onClick={() => setRouting(p)}>Routing…</Menu.Item>
                          <Menu.Divider />
                          <Menu.Label>Status</Menu.Label>
                          {['active', 'disabled', 'archived'].filter((s) => s !== p.status).map((s) => (
                            <Menu.Item key={s} onClick={() => setStatus.mutate({ id: p.id, status: s })}>
                              {s === 'active' ? 'Activate' : s === 'disabled' ? 'Disable' : 'Archive'}
                            </Menu.Item>
                          ))}
                          <Menu.Divider />
                          <Menu.Item color="red" disabled={p.status !== 'archived'} onClick={() => setDeleting(p)} title={p.status === 'archived' ? undefined : 'Archive the pool first'}>
                            Delete…
                          </Menu.Item>
                        </Menu.Dropdown>
                      </Menu>
                    </Table.Td>
                  ) : (
                    <Table.Td>
                      <Button size="xs" variant="default" onClick={() => setRouting(p)} aria-label={`Routing of ${p.name}`}>Routing</Button>
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {editing ? <RenamePoolModal pool={editing} onClose={() => setEditing(null)} /> : null}
      {deleting ? <DeletePoolModal pool={deleting} onClose={() => setDeleting(null)} /> : null}
      {routing ? <RoutingModal pool={routing} canEdit={canManage} onClose={() => setRouting(null)} /> : null}
      <Modal opened={opened} onClose={close} title="Create pool">
        <form onSubmit={submit}>
          <Stack>
            {error ? <Alert color="red" role="alert">{error}</Alert> : null}
            <TextInput name="name" label="Name" required data-autofocus />
            <TextInput name="slug" label="Slug" description="Optional; derived from the name (“My team” → my-team)" />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>Cancel</Button>
              <Button type="submit" loading={create.isPending}>Create</Button>
            </Group>
            <Text size="xs" c="dimmed">Next: import accounts into the pool and mint an API key.</Text>
          </Stack>
        </form>
      </Modal>
    </>
  );
}

function RenamePoolModal({ pool, onClose }: { pool: Pool; onClose: () => void }) {
  const client = useQueryClient();
  const [name, setName] = useState(pool.name);
  const rename = useMutation({
    mutationFn: () => api('PATCH', `/pools/${pool.id}`, { name: name.trim() }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['pools'] });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Rename ${pool.name}`}>
      <form onSubmit={(e) => { e.preventDefault(); rename.mutate(); }}>
        <Stack>
          {rename.error ? <Alert color="red" role="alert">{errorMessage(rename.error)}</Alert> : null}
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required maxLength={160} data-autofocus />
          <Text size="xs" c="dimmed">The slug <code>{pool.slug}</code> stays the same.</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" loading={rename.isPending} disabled={!name.trim()}>Save</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Spec §6.1: only an archived pool, and only with its slug typed. */
function DeletePoolModal({ pool, onClose }: { pool: Pool; onClose: () => void }) {
  const client = useQueryClient();
  const [typed, setTyped] = useState('');
  const remove = useMutation({
    mutationFn: () => del(`/pools/${pool.id}`, { confirm: typed.trim() }),
    onSuccess: () => {
      void client.invalidateQueries();
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Delete ${pool.name}?`}>
      <form onSubmit={(e) => { e.preventDefault(); remove.mutate(); }}>
        <Stack>
          {remove.error ? <Alert color="red" role="alert">{errorMessage(remove.error)}</Alert> : null}
          <Text size="sm">This deletes the pool with its API keys, account assignments and request history. Audit entries stay. It cannot be undone.</Text>
          <TextInput label={`Type the slug ${pool.slug} to confirm`} value={typed} onChange={(e) => setTyped(e.currentTarget.value)} autoComplete="off" data-autofocus />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" color="red" disabled={typed.trim() !== pool.slug} loading={remove.isPending}>Delete pool</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

const STRATEGIES: { value: RoutingStrategy; label: string; explanation: string }[] = [
  { value: 'bridge_ring', label: 'Bridge ring', explanation: 'Spreads requests evenly; a session keeps its account (default).' },
  { value: 'deterministic_rotation', label: 'Deterministic rotation', explanation: 'Rotates through the accounts in a fixed order, offset per session.' },
  { value: 'least_recent_success', label: 'Least recent success', explanation: 'Prefers the account that has gone longest without a successful request.' },
  { value: 'quota_first', label: 'Quota first', explanation: 'Prefers the account with the most quota left.' },
];

type RoutingFlag = 'sticky_http_sessions' | 'sticky_websocket_sessions' | 'prompt_cache_affinity_enabled' | 'v1_compatibility_enabled' | 'allow_image_generation';
const FLAGS: { field: RoutingFlag; label: string; description: string }[] = [
  { field: 'sticky_http_sessions', label: 'Sticky HTTP sessions', description: 'HTTP requests of one Codex session stay on the same account.' },
  { field: 'sticky_websocket_sessions', label: 'Sticky websocket sessions', description: 'A websocket session stays on the same account.' },
  { field: 'prompt_cache_affinity_enabled', label: 'Prompt cache affinity', description: 'Requests with the same prompt_cache_key go to the same account.' },
  { field: 'v1_compatibility_enabled', label: 'OpenAI /v1 compatibility', description: 'Accept /v1 requests with this pool\'s keys; off answers 403.' },
  { field: 'allow_image_generation', label: 'Image generation', description: 'Allow /v1/images generation and edits.' },
];

/** Spec §6.1: an owner edits the pool's routing; others see it read-only. */
function RoutingModal({ pool, canEdit, onClose }: { pool: Pool; canEdit: boolean; onClose: () => void }) {
  const client = useQueryClient();
  const current = useQuery({ queryKey: ['pool-routing', pool.id], queryFn: () => get<{ routing: PoolRouting }>(`/pools/${pool.id}/routing`).then((r) => r.routing) });
  const [draft, setDraft] = useState<PoolRouting | null>(null);
  const value = draft ?? current.data ?? null;
  const set = (change: Partial<PoolRouting>) => value && setDraft({ ...value, ...change });
  const save = useMutation({
    mutationFn: (routing: PoolRouting) => patch<{ routing: PoolRouting }>(`/pools/${pool.id}/routing`, routing),
    onSuccess: (answer) => {
      client.setQueryData(['pool-routing', pool.id], answer.routing);
      onClose();
    },
  });
  const fieldError = (field: keyof PoolRouting) => (save.error instanceof ApiError && save.error.param === field ? save.error.message : undefined);
  const strategy = STRATEGIES.find((s) => s.value === value?.routing_strategy);
  return (
    <Modal opened onClose={onClose} title={`Routing of ${pool.name}`} size="lg">
      {current.isLoading ? <Loading /> : current.error ? <ErrorNote error={current.error} retry={() => void current.refetch()} /> : value ? (
        <form onSubmit={(e) => { e.preventDefault(); save.mutate(value); }}>
          <Stack>
            {save.error ? <Alert color="red" role="alert">{errorMessage(save.error)}</Alert> : null}
            {canEdit ? null : <Text size="sm" c="dimmed">Only an instance owner can change a pool's routing.</Text>}
            <Select
              label="Strategy"
              description={strategy?.explanation}
              data={STRATEGIES.map((s) => ({ value: s.value, label: s.label }))}
              renderOption={({ option }) => (
                <Stack gap={0}>
                  <Text size="sm">{option.label}</Text>
                  <Text size="xs" c="dimmed">{STRATEGIES.find((s) => s.value === option.value)?.explanation}</Text>
                </Stack>
              )}
              value={value.routing_strategy}
              onChange={(v) => v && set({ routing_strategy: v as RoutingStrategy })}
              allowDeselect={false}
              disabled={!canEdit}
              error={fieldError('routing_strategy')}
              data-autofocus
            />
            <NumberInput
              label="Ring size"
              description="How many accounts a request may be tried on, in plan order (every strategy)."
              value={value.bridge_ring_size}
              onChange={(v) => set({ bridge_ring_size: typeof v === 'number' ? v : Number(v) })}
              min={1}
              max={100}
              allowDecimal={false}
              allowNegative={false}
              disabled={!canEdit}
              error={fieldError('bridge_ring_size')}
            />
            {FLAGS.map(({ field, label, description }) => (
              <Switch
                key={field}
                label={label}
                description={description}
                checked={value[field]}
                onChange={(e) => set({ [field]: e.currentTarget.checked })}
                disabled={!canEdit}
                error={fieldError(field)}
              />
            ))}
            <Switch label="Request compression" description="Not supported by this gateway." checked={value.request_compression_enabled} disabled />
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>{canEdit ? 'Cancel' : 'Close'}</Button>
              {canEdit ? <Button type="submit" loading={save.isPending} disabled={!draft}>Save</Button> : null}
            </Group>
          </Stack>
        </form>
      ) : null}
    </Modal>
  );
}
