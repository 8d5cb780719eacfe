import { Alert, Button, FileButton, Group, Modal, Stack, Table, Text, TextInput, Textarea, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, errorMessage, get, post, query, type Account } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, PoolSelect, QuotaBar, StateBadge, useNow, usePools } from '../components.tsx';
import { relative } from '../format.ts';
import { BrowserSignInModal, DeviceSignInModal, type SignInTarget } from './account-sign-in.tsx';

export function AccountsPage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const accounts = useQuery({ queryKey: ['accounts', poolId ?? ''], queryFn: () => get<{ items: Account[] }>(`/accounts${query({ pool_id: poolId })}`).then((r) => r.items), refetchInterval: 30_000 });
  const pools = usePools();
  const client = useQueryClient();
  const now = useNow();
  const [opened, { open, close }] = useDisclosure(false);
  const [browserTarget, setBrowserTarget] = useState<SignInTarget | null>(null);
  const [deviceTarget, setDeviceTarget] = useState<SignInTarget | null>(null);
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ['accounts'] });
    void client.invalidateQueries({ queryKey: ['pools'] });
  };
  const action = useMutation({
    mutationFn: ({ id, verb }: { id: string; verb: 'disable' | 'enable' | 'remove' }) => (verb === 'remove' ? api('DELETE', `/accounts/${id}`) : post(`/accounts/${id}/${verb}`)),
    onSettled: refresh,
  });
  const noPools = (pools.data ?? []).filter((p) => p.status === 'active').length === 0;

  return (
    <>
      <PageHeader
        title="Accounts"
        description="Upstream ChatGPT accounts in your pools, with their state and quota windows."
        actions={
          <>
            <Button onClick={() => setBrowserTarget({ kind: 'new', poolId })} disabled={noPools}>Sign in with ChatGPT</Button>
            <Button variant="default" onClick={() => setDeviceTarget({ kind: 'new', poolId })} disabled={noPools}>Device code</Button>
            <Button variant="default" onClick={open} disabled={noPools}>Import auth.json</Button>
          </>
        }
      />
      <Group mb="md">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
      </Group>
      {action.error ? <ErrorNote error={action.error} /> : null}
      {accounts.isLoading ? <Loading /> : accounts.error ? <ErrorNote error={accounts.error} retry={() => void accounts.refetch()} /> : accounts.data!.length === 0 ? (
        <EmptyState title="No accounts here yet" action={noPools ? null : <Button onClick={open}>Import auth.json</Button>}>
          {noPools
            ? 'Create a pool first (Pools), then import accounts into it.'
            : 'Run `codex login` on a machine with a browser, then import the auth.json it writes (usually ~/.codex/auth.json).'}
        </EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={900}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Account</Table.Th>
                <Table.Th>Pool</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Primary window</Table.Th>
                <Table.Th>Secondary window</Table.Th>
                <Table.Th>Last success</Table.Th>
                <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {accounts.data!.map((a) => (
                <Table.Tr key={a.id}>
                  <Table.Td>
                    <Text size="sm">{a.label ?? a.email}</Text>
                    <Text size="xs" c="dimmed">{[a.email !== a.label ? a.email : null, a.plan].filter(Boolean).join(' · ')}</Text>
                  </Table.Td>
                  <Table.Td>{a.pool_slug}</Table.Td>
                  <Table.Td><StateBadge state={a.state} /></Table.Td>
                  <Table.Td><QuotaBar window={a.quota?.primary ?? null} now={now} /></Table.Td>
                  <Table.Td><QuotaBar window={a.quota?.secondary ?? null} now={now} /></Table.Td>
                  <Table.Td>{relative(a.last_success_at, now)}</Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Button size="xs" variant={a.state === 'reauth_required' ? 'filled' : 'default'} onClick={() => setBrowserTarget({ kind: 'relink', account: a })}>Re-authenticate</Button>
                      <Button size="xs" variant="subtle" onClick={() => setDeviceTarget({ kind: 'relink', account: a })} aria-label={`Re-authenticate ${a.label ?? a.email} with a device code`}>Code</Button>
                      {a.state === 'disabled' ? (
                        <Button size="xs" variant="default" onClick={() => action.mutate({ id: a.id, verb: 'enable' })}>Enable</Button>
                      ) : (
                        <Button size="xs" variant="default" onClick={() => action.mutate({ id: a.id, verb: 'disable' })}>Disable</Button>
                      )}
                      <Button size="xs" variant="subtle" color="red" onClick={() => { if (window.confirm(`Remove ${a.label ?? a.email} from ${a.pool_slug}?`)) action.mutate({ id: a.id, verb: 'remove' }); }}>
                        Remove
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <Text size="xs" c="dimmed" mt="md">Re-authenticate signs the same ChatGPT account in again (an account in "reauth required" needs it); another account is refused. To let account owners add themselves, send them an invite (Invites).</Text>
      <BrowserSignInModal target={browserTarget} onClose={() => setBrowserTarget(null)} onDone={refresh} />
      <DeviceSignInModal target={deviceTarget} onClose={() => setDeviceTarget(null)} onDone={refresh} />
      <ImportModal opened={opened} onClose={close} defaultPool={poolId} onDone={refresh} />
    </>
  );
}

function ImportModal({ opened, onClose, defaultPool, onDone }: { opened: boolean; onClose: () => void; defaultPool: string | null; onDone: () => void }) {
  const [poolId, setPoolId] = useState<string | null>(defaultPool);
  const [authJson, setAuthJson] = useState('');
  const [label, setLabel] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const importIt = useMutation({
    mutationFn: () => post<{ account: Account; created: boolean }>('/accounts/import', { pool_id: poolId, auth_json: authJson, ...(label.trim() ? { label: label.trim() } : {}) }),
    onSuccess: (answer) => {
      setResult(`${answer.created ? 'Imported' : 'Updated'} ${answer.account.label ?? answer.account.email ?? 'account'} (${answer.account.state}).`);
      setAuthJson('');
      setLabel('');
      onDone();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const readFile = async (file: File | null) => {
    if (!file) return;
    if (file.size > 64_000) return setError('That file is larger than 64 KB; an auth.json is much smaller.');
    setAuthJson(await file.text());
  };
  const finish = () => {
    setError(null);
    setResult(null);
    onClose();
  };
  return (
    <Modal opened={opened} onClose={finish} title="Import auth.json" size="lg">
      <form onSubmit={(e) => { e.preventDefault(); setError(null); setResult(null); importIt.mutate(); }}>
        <Stack>
          {error ? <Alert color="red" role="alert">{error}</Alert> : null}
          {result ? <Alert color="green" role="status">{result}</Alert> : null}
          <PoolSelect value={poolId} onChange={setPoolId} required />
          <TextInput label="Label" description="Optional; defaults to the account's email" value={label} onChange={(e) => setLabel(e.currentTarget.value)} />
          <Textarea
            label="auth.json"
            description="Paste the file's contents, or upload it. Tokens are encrypted at rest and never shown again."
            autosize
            minRows={6}
            maxRows={12}
            value={authJson}
            onChange={(e) => setAuthJson(e.currentTarget.value)}
            styles={{ input: { fontFamily: 'monospace', fontSize: 12 } }}
            required
          />
          <Group justify="space-between">
            <FileButton onChange={(file) => void readFile(file)} accept="application/json,.json">
              {(props) => <Button variant="default" {...props}>Upload file…</Button>}
            </FileButton>
            <Group>
              <Button variant="default" onClick={finish}>Close</Button>
              <Button type="submit" loading={importIt.isPending} disabled={!poolId || !authJson.trim()}>Import</Button>
            </Group>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
