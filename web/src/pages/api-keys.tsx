import { Alert, Anchor, Button, Code, CopyButton, Group, Menu, Modal, Stack, Table, Text, Textarea, TextInput, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { del, errorMessage, get, patch, post, put, query, type ApiKey, type KeyLimits, type PoolModels } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, PoolSelect, StateBadge, poolName, usePools } from '../components.tsx';
import { KeyPolicyEditor, limitsDocument, policyDraftOf, policyPatch, type PolicyDraft } from './api-key-policy.tsx';
import { formatTime, relative } from '../format.ts';

/** What the page is doing with one key: a dialog open, or the one-time secret on screen. */
type Dialog =
  | { kind: 'create' }
  | { kind: 'edit'; key: ApiKey }
  | { kind: 'rotate' | 'revoke' | 'delete'; key: ApiKey }
  | { kind: 'secret'; title: string; secret: string };

const keyName = (k: ApiKey) => k.label ?? k.prefix;

/** One line on what the key may do, when it is not the open default (limits are on the key's page). */
function policySummary(k: ApiKey): string | null {
  const parts = [
    k.model_mode === 'deny_all' ? 'no models' : k.model_mode === 'selected' ? `models: ${k.allowed_models.join(', ')}` : null,
    k.enforced_model ? `always ${k.enforced_model}` : null,
    k.enforced_reasoning_effort ? `effort ${k.enforced_reasoning_effort}` : k.maximum_reasoning_effort ? `effort ≤ ${k.maximum_reasoning_effort}` : null,
    k.service_tier ? `tier ${k.service_tier}` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : null;
}

export function ApiKeysPage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const keys = useQuery({ queryKey: ['api-keys', poolId ?? ''], queryFn: () => get<{ items: ApiKey[] }>(`/api-keys${query({ pool_id: poolId })}`).then((r) => r.items) });
  const pools = usePools();
  const client = useQueryClient();
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ['api-keys'] });
    void client.invalidateQueries({ queryKey: ['api-key-limits'] });
    void client.invalidateQueries({ queryKey: ['pools'] });
  };
  const toggle = useMutation({
    mutationFn: ({ key, verb }: { key: ApiKey; verb: 'pause' | 'resume' }) => post(`/api-keys/${key.id}/${verb}`),
    onSettled: refresh,
  });
  const noPools = (pools.data ?? []).filter((p) => p.status === 'active').length === 0;
  const create = () => setDialog({ kind: 'create' });

  return (
    <>
      <PageHeader title="API keys" description="Clients call the gateway with a Pool API key (sk-cxp-…). A key is shown once, when it is created or rotated." actions={<Button onClick={create} disabled={noPools}>Create API key</Button>} />
      <Group mb="md">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
      </Group>
      {toggle.error ? <ErrorNote error={toggle.error} /> : null}
      {keys.isLoading ? <Loading /> : keys.error ? <ErrorNote error={keys.error} retry={() => void keys.refetch()} /> : keys.data!.length === 0 ? (
        <EmptyState title="No API keys yet" action={noPools ? null : <Button onClick={create}>Create API key</Button>}>
          {noPools ? 'Create a pool first (Pools); keys belong to a pool.' : 'Create a key and give it to a client: set it as OPENAI_API_KEY with the gateway URL as the base URL.'}
        </EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={860}>
          <Table striped highlightOnHover data-testid="api-key-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Label</Table.Th>
                <Table.Th>Prefix</Table.Th>
                <Table.Th>Pool</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th>Last used</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {keys.data!.map((k) => (
                <Table.Tr key={k.id}>
                  <Table.Td>
                    {/* The key's own page: usage, cost, limits and recent requests (its Observatory). */}
                    <Anchor component={Link} to={`/api-keys/${k.id}`} size="sm">{k.label ?? k.prefix}</Anchor>
                    {policySummary(k) ? <Text size="xs" c="dimmed" data-testid="policy-summary">{policySummary(k)}</Text> : null}
                    {k.notes ? <Text size="xs" c="dimmed" lineClamp={2} maw={280}>{k.notes}</Text> : null}
                  </Table.Td>
                  <Table.Td><code>{k.prefix}…</code></Table.Td>
                  <Table.Td>{poolName(pools.data, k.pool_id)}</Table.Td>
                  <Table.Td><StateBadge state={k.state} /></Table.Td>
                  <Table.Td>{k.expires_at ? formatTime(k.expires_at) : 'never'}</Table.Td>
                  <Table.Td>{relative(k.last_used_at)}</Table.Td>
                  <Table.Td>{formatTime(k.created_at)}</Table.Td>
                  <Table.Td>
                    <Menu position="bottom-end">
                      <Menu.Target>
                        <Button size="xs" variant="default" aria-label={`Actions for ${keyName(k)}`}>Actions</Button>
                      </Menu.Target>
                      <Menu.Dropdown>
                        {k.status !== 'revoked' ? (
                          <>
                            <Menu.Item onClick={() => setDialog({ kind: 'edit', key: k })}>Edit</Menu.Item>
                            {k.status === 'active' ? (
                              <Menu.Item onClick={() => toggle.mutate({ key: k, verb: 'pause' })}>Pause</Menu.Item>
                            ) : (
                              <Menu.Item onClick={() => toggle.mutate({ key: k, verb: 'resume' })}>Resume</Menu.Item>
                            )}
                            <Menu.Item onClick={() => setDialog({ kind: 'rotate', key: k })}>Rotate</Menu.Item>
                            <Menu.Item color="red" onClick={() => setDialog({ kind: 'revoke', key: k })}>Revoke</Menu.Item>
                          </>
                        ) : null}
                        <Menu.Item color="red" onClick={() => setDialog({ kind: 'delete', key: k })}>Delete</Menu.Item>
                      </Menu.Dropdown>
                    </Menu>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <KeyFormModal
        key={dialog?.kind === 'edit' ? dialog.key.id : dialog?.kind ?? 'none'}
        editing={dialog?.kind === 'edit' ? dialog.key : null}
        opened={dialog?.kind === 'create' || dialog?.kind === 'edit'}
        defaultPool={poolId}
        onClose={() => setDialog(null)}
        onSaved={(secret) => {
          refresh();
          setDialog(secret ? { kind: 'secret', title: 'Your new API key', secret } : null);
        }}
      />
      {dialog?.kind === 'rotate' || dialog?.kind === 'revoke' ? (
        <ConfirmKeyAction
          kind={dialog.kind}
          apiKey={dialog.key}
          onClose={() => setDialog(null)}
          onDone={(secret) => {
            refresh();
            setDialog(secret ? { kind: 'secret', title: 'Your rotated API key', secret } : null);
          }}
        />
      ) : null}
      {dialog?.kind === 'delete' ? <DeleteKeyModal apiKey={dialog.key} onClose={() => setDialog(null)} onDeleted={() => { refresh(); setDialog(null); }} /> : null}
      <Modal opened={dialog?.kind === 'secret'} onClose={() => setDialog(null)} title={dialog?.kind === 'secret' ? dialog.title : ''} size="lg">
        {dialog?.kind === 'secret' ? (
          <Stack>
            <Alert color="yellow" title="Copy it now">This is the only time the key is shown. Store it in your client's configuration.</Alert>
            <Code block data-testid="new-api-key">{dialog.secret}</Code>
            <Group justify="flex-end">
              <CopyButton value={dialog.secret}>{({ copied, copy }) => <Button variant="light" onClick={copy}>{copied ? 'Copied' : 'Copy key'}</Button>}</CopyButton>
              <Button onClick={() => setDialog(null)}>Done</Button>
            </Group>
          </Stack>
        ) : null}
      </Modal>
    </>
  );
}

/**
 * Create (pool, label, notes, expiry) or edit in one form; editing adds the key's Pool, models,
 * enforcement and limits ("Models and limits").
 */
function KeyFormModal({ opened, editing, defaultPool, onClose, onSaved }: { opened: boolean; editing: ApiKey | null; defaultPool: string | null; onClose: () => void; onSaved: (secret: string | null) => void }) {
  const [poolId, setPoolId] = useState<string | null>(editing?.pool_id ?? defaultPool);
  const [error, setError] = useState<string | null>(null);
  const [draft, setDraft] = useState<PolicyDraft | null>(null);
  const limits = useQuery({ queryKey: ['api-key-limits', editing?.id ?? ''], queryFn: () => get<KeyLimits>(`/api-keys/${editing!.id}/limits`), enabled: opened && editing !== null });
  const catalog = useQuery({ queryKey: ['pool-models', poolId ?? ''], queryFn: () => get<PoolModels>(`/pools/${poolId}/models`), enabled: opened && editing !== null && poolId !== null });
  // The draft starts from what is stored, once the limits arrived.
  const policy = draft ?? (editing && limits.data ? policyDraftOf(editing, limits.data) : null);
  const save = useMutation({
    mutationFn: async (body: { label: string | null; notes: string | null; expires_at: string | null }) => {
      if (!editing) return post<{ api_key: ApiKey; key: string }>('/api-keys', { pool_id: poolId, ...body }).then((r) => r.key);
      await patch<{ api_key: ApiKey }>(`/api-keys/${editing.id}`, { ...body, ...(poolId && poolId !== editing.pool_id ? { pool_id: poolId } : {}), ...(policy ? policyPatch(policy) : {}) });
      if (policy) await put<KeyLimits>(`/api-keys/${editing.id}/limits`, limitsDocument(policy));
      return null;
    },
    onSuccess: (secret) => onSaved(secret),
    onError: (e) => setError(errorMessage(e)),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '').trim() || null;
    setError(null);
    save.mutate({ label: text('label'), notes: text('notes'), expires_at: text('expires_at') });
  };
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  return (
    <Modal opened={opened} onClose={onClose} title={editing ? `Edit ${keyName(editing)}` : 'Create API key'} size="lg">
      <form onSubmit={submit}>
        <Stack>
          {error ? <Alert color="red" role="alert">{error}</Alert> : null}
          {editing ? <Text size="sm">Key <code>{editing.prefix}…</code></Text> : null}
          <PoolSelect value={poolId} onChange={setPoolId} required />
          {editing && poolId !== editing.pool_id ? <Alert color="yellow">Saving moves the key to this pool and signs its holder out of the Observatory.</Alert> : null}
          <TextInput name="label" label="Label" description="Who or what uses it, e.g. laptop, ci" defaultValue={editing?.label ?? ''} maxLength={160} data-autofocus />
          <TextInput
            name="expires_at"
            type="date"
            label="Expires on"
            description="The key stops working at 00:00 UTC that day. Leave empty for no expiry."
            defaultValue={editing?.expires_at ? editing.expires_at.slice(0, 10) : ''}
            min={tomorrow}
          />
          <Textarea name="notes" label="Notes" description="For operators: where it is deployed, who to ask" defaultValue={editing?.notes ?? ''} maxLength={2000} autosize minRows={2} />
          {editing ? (
            limits.error ? <ErrorNote error={limits.error} retry={() => void limits.refetch()} /> : policy ? <KeyPolicyEditor draft={policy} onChange={setDraft} catalog={(catalog.data?.items ?? []).map((m) => m.id)} /> : <Loading label="Loading limits…" />
          ) : null}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" loading={save.isPending} disabled={!editing && !poolId}>{editing ? 'Save' : 'Create'}</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function ConfirmKeyAction({ kind, apiKey, onClose, onDone }: { kind: 'rotate' | 'revoke'; apiKey: ApiKey; onClose: () => void; onDone: (secret: string | null) => void }) {
  const act = useMutation({
    mutationFn: () => post<{ key?: string }>(`/api-keys/${apiKey.id}/${kind}`).then((r) => r.key ?? null),
    onSuccess: onDone,
  });
  const rotate = kind === 'rotate';
  return (
    <Modal opened onClose={onClose} title={`${rotate ? 'Rotate' : 'Revoke'} ${keyName(apiKey)}?`}>
      <Stack>
        {act.error ? <Alert color="red" role="alert">{errorMessage(act.error)}</Alert> : null}
        <Text size="sm">
          {rotate
            ? 'The key gets a new secret and prefix; its limits and history stay. Clients using the current key stop working immediately, so update them with the new key, shown once on the next screen.'
            : 'Clients using this key stop working immediately. A revoked key cannot be resumed; create a new key instead.'}
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button color={rotate ? undefined : 'red'} loading={act.isPending} onClick={() => act.mutate()} data-autofocus>
            {rotate ? 'Rotate key' : 'Revoke key'}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function DeleteKeyModal({ apiKey, onClose, onDeleted }: { apiKey: ApiKey; onClose: () => void; onDeleted: () => void }) {
  const [typed, setTyped] = useState('');
  const remove = useMutation({ mutationFn: () => del(`/api-keys/${apiKey.id}`, { confirm: typed.trim() }), onSuccess: onDeleted });
  return (
    <Modal opened onClose={onClose} title={`Delete ${keyName(apiKey)}?`}>
      <form onSubmit={(e) => { e.preventDefault(); remove.mutate(); }}>
        <Stack>
          {remove.error ? <Alert color="red" role="alert">{errorMessage(remove.error)}</Alert> : null}
          <Text size="sm">This deletes the key with its limits, request logs and usage history. It cannot be undone.</Text>
          <TextInput label={`Type the prefix ${apiKey.prefix} to confirm`} value={typed} onChange={(e) => setTyped(e.currentTarget.value)} autoComplete="off" data-autofocus />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" color="red" disabled={typed.trim() !== apiKey.prefix} loading={remove.isPending}>Delete key</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
