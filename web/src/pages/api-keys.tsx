import { Alert, Button, Code, CopyButton, Group, Modal, Stack, Table, Text, TextInput, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, get, post, query, type ApiKey } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, PoolSelect, StateBadge, poolName, usePools } from '../components.tsx';
import { formatTime, relative } from '../format.ts';

export function ApiKeysPage() {
  const [poolId, setPoolId] = useState<string | null>(null);
  const keys = useQuery({ queryKey: ['api-keys', poolId ?? ''], queryFn: () => get<{ items: ApiKey[] }>(`/api-keys${query({ pool_id: poolId })}`).then((r) => r.items) });
  const pools = usePools();
  const client = useQueryClient();
  const [opened, { open, close }] = useDisclosure(false);
  const revoke = useMutation({
    mutationFn: (id: string) => post(`/api-keys/${id}/revoke`),
    onSettled: () => void client.invalidateQueries({ queryKey: ['api-keys'] }),
  });
  const noPools = (pools.data ?? []).filter((p) => p.status === 'active').length === 0;

  return (
    <>
      <PageHeader title="API keys" description="Clients call the gateway with a Pool API key (sk-cxp-…). A key is shown once, when it is created." actions={<Button onClick={open} disabled={noPools}>Create API key</Button>} />
      <Group mb="md">
        <PoolSelect value={poolId} onChange={setPoolId} allLabel="All pools" />
      </Group>
      {revoke.error ? <ErrorNote error={revoke.error} /> : null}
      {keys.isLoading ? <Loading /> : keys.error ? <ErrorNote error={keys.error} retry={() => void keys.refetch()} /> : keys.data!.length === 0 ? (
        <EmptyState title="No API keys yet" action={noPools ? null : <Button onClick={open}>Create API key</Button>}>
          {noPools ? 'Create a pool first (Pools); keys belong to a pool.' : 'Create a key and give it to a client: set it as OPENAI_API_KEY with the gateway URL as the base URL.'}
        </EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Label</Table.Th>
                <Table.Th>Prefix</Table.Th>
                <Table.Th>Pool</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Last used</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {keys.data!.map((k) => (
                <Table.Tr key={k.id}>
                  <Table.Td>{k.label ?? '—'}</Table.Td>
                  <Table.Td><code>{k.prefix}…</code></Table.Td>
                  <Table.Td>{poolName(pools.data, k.pool_id)}</Table.Td>
                  <Table.Td><StateBadge state={k.state} /></Table.Td>
                  <Table.Td>{relative(k.last_used_at)}</Table.Td>
                  <Table.Td>{formatTime(k.created_at)}</Table.Td>
                  <Table.Td>
                    {k.status === 'active' ? (
                      <Button size="xs" variant="subtle" color="red" onClick={() => { if (window.confirm(`Revoke ${k.label ?? k.prefix}? Clients using it stop working immediately.`)) revoke.mutate(k.id); }}>
                        Revoke
                      </Button>
                    ) : null}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <CreateKeyModal opened={opened} onClose={close} defaultPool={poolId} />
    </>
  );
}

function CreateKeyModal({ opened, onClose, defaultPool }: { opened: boolean; onClose: () => void; defaultPool: string | null }) {
  const client = useQueryClient();
  const [poolId, setPoolId] = useState<string | null>(defaultPool);
  const [label, setLabel] = useState('');
  const [minted, setMinted] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => post<{ api_key: ApiKey; key: string }>('/api-keys', { pool_id: poolId, ...(label.trim() ? { label: label.trim() } : {}) }),
    onSuccess: (answer) => {
      setMinted(answer.key);
      void client.invalidateQueries({ queryKey: ['api-keys'] });
      void client.invalidateQueries({ queryKey: ['pools'] });
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const finish = () => {
    setMinted(null);
    setLabel('');
    setError(null);
    onClose();
  };
  return (
    <Modal opened={opened} onClose={finish} title={minted ? 'Your new API key' : 'Create API key'} size="lg">
      {minted ? (
        <Stack>
          <Alert color="yellow" title="Copy it now">This is the only time the key is shown. Store it in your client's configuration.</Alert>
          <Code block data-testid="new-api-key">{minted}</Code>
          <Group justify="flex-end">
            <CopyButton value={minted}>{({ copied, copy }) => <Button variant="light" onClick={copy}>{copied ? 'Copied' : 'Copy key'}</Button>}</CopyButton>
            <Button onClick={finish}>Done</Button>
          </Group>
        </Stack>
      ) : (
        <form onSubmit={(e) => { e.preventDefault(); setError(null); create.mutate(); }}>
          <Stack>
            {error ? <Alert color="red" role="alert">{error}</Alert> : null}
            <PoolSelect value={poolId} onChange={setPoolId} required />
            <TextInput label="Label" description="Who or what uses it, e.g. laptop, ci" value={label} onChange={(e) => setLabel(e.currentTarget.value)} />
            <Group justify="flex-end">
              <Button variant="default" onClick={finish}>Cancel</Button>
              <Button type="submit" loading={create.isPending} disabled={!poolId}>Create</Button>
            </Group>
            <Text size="xs" c="dimmed">Expiry, limits and model policies are coming.</Text>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
