import { Alert, Button, Group, Menu, Modal, Stack, Table, Text, TextInput, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, del, errorMessage, post, type Pool } from '../api.ts';
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
                {canManage ? <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th> : null}
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
                  ) : null}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {editing ? <RenamePoolModal pool={editing} onClose={() => setEditing(null)} /> : null}
      {deleting ? <DeletePoolModal pool={deleting} onClose={() => setDeleting(null)} /> : null}
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
