import { Alert, Button, Code, CopyButton, Group, Modal, Select, Stack, Table, Text, TextInput, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, get, post, query, type Invite } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, PoolSelect, StateBadge, useNow, usePools } from '../components.tsx';
import { relative } from '../format.ts';

/** Pool invites: the account owner opens the one-time link and signs in with a device code. */
export function InvitesPage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const invites = useQuery({ queryKey: ['invites', poolId ?? '', status ?? ''], queryFn: () => get<{ items: Invite[] }>(`/invites${query({ pool_id: poolId, status })}`).then((r) => r.items), refetchInterval: 30_000 });
  const pools = usePools();
  const client = useQueryClient();
  const now = useNow();
  const [creating, setCreating] = useState(false);
  const refresh = () => void client.invalidateQueries({ queryKey: ['invites'] });
  const revoke = useMutation({ mutationFn: (id: string) => post(`/invites/${id}/revoke`), onSettled: refresh });
  const noPools = (pools.data ?? []).filter((p) => p.status === 'active').length === 0;
  return (
    <>
      <PageHeader
        title="Invites"
        description="Invite the owner of a ChatGPT account to add it to a pool: they open the link, sign in with a device code, and the account joins when its email is the invited one."
        actions={<Button onClick={() => setCreating(true)} disabled={noPools}>Create invite</Button>}
      />
      <Group mb="md">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
        <Select label="Status" data={[{ value: '', label: 'Any status' }, 'active', 'accepted', 'revoked', 'expired']} value={status ?? ''} onChange={(v) => setStatus(v ? v : null)} allowDeselect={false} w={180} />
      </Group>
      {revoke.error ? <ErrorNote error={revoke.error} /> : null}
      {invites.isLoading ? <Loading /> : invites.error ? <ErrorNote error={invites.error} retry={() => void invites.refetch()} /> : invites.data!.length === 0 ? (
        <EmptyState title="No invites" action={noPools ? null : <Button onClick={() => setCreating(true)}>Create invite</Button>}>Invites let account owners add their ChatGPT account without sharing an auth.json.</EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={800}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Email</Table.Th>
                <Table.Th>Pool</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Inviter</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {invites.data!.map((i) => (
                <Table.Tr key={i.id}>
                  <Table.Td>{i.email}</Table.Td>
                  <Table.Td>{i.pool_slug}</Table.Td>
                  <Table.Td><StateBadge state={i.status} /></Table.Td>
                  <Table.Td>{i.inviter ?? '—'}</Table.Td>
                  <Table.Td>{relative(i.created_at, now)}</Table.Td>
                  <Table.Td>{i.status === 'active' ? relative(i.expires_at, now) : '—'}</Table.Td>
                  <Table.Td>
                    {i.status === 'active' ? (
                      <Button size="xs" variant="subtle" color="red" onClick={() => { if (window.confirm(`Revoke the invite for ${i.email}?`)) revoke.mutate(i.id); }}>Revoke</Button>
                    ) : null}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <CreateInviteModal opened={creating} onClose={() => setCreating(false)} defaultPool={poolId} onDone={refresh} />
    </>
  );
}

function CreateInviteModal({ opened, onClose, defaultPool, onDone }: { opened: boolean; onClose: () => void; defaultPool: string | null; onDone: () => void }) {
  const [poolId, setPoolId] = useState<string | null>(defaultPool);
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [url, setUrl] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => post<{ invite: Invite; url: string }>('/invites', { pool_id: poolId, email: email.trim() }),
    onSuccess: (answer) => {
      setUrl(answer.url);
      setError(null);
      onDone();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const finish = () => {
    setUrl(null);
    setEmail('');
    setError(null);
    onClose();
  };
  return (
    <Modal opened={opened} onClose={finish} title="Create invite">
      {url ? (
        <Stack>
          <Alert color="green" role="status">Invite created. Send this link to {email.trim()}; it is shown only once.</Alert>
          <Code block style={{ wordBreak: 'break-all' }}>{url}</Code>
          <Group justify="flex-end">
            <CopyButton value={url}>{({ copied, copy }) => <Button variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy link'}</Button>}</CopyButton>
            <Button onClick={finish}>Done</Button>
          </Group>
        </Stack>
      ) : (
        <form onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
          <Stack>
            {error ? <Alert color="red" role="alert">{error}</Alert> : null}
            <PoolSelect value={poolId} onChange={setPoolId} required />
            <TextInput label="Email" description="The email of the ChatGPT account to add; the sign-in must use it." type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} required />
            <Text size="xs" c="dimmed">The link works for 24 hours, once.</Text>
            <Group justify="flex-end">
              <Button variant="default" onClick={finish}>Cancel</Button>
              <Button type="submit" loading={create.isPending} disabled={!poolId || !email.trim()}>Create</Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
