import { Alert, Button, Code, Group, Modal, MultiSelect, Select, Stack, Table, Text, TextInput, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, get, patch, post, type Operator } from '../api.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, StateBadge, poolName, usePools } from '../components.tsx';
import { relative } from '../format.ts';
import { useSignedIn } from '../session.tsx';

export function OperatorsPage() {
  const session = useSignedIn();
  if (!session.auth.permissions['operator.manage']) {
    return <EmptyState title="Owners only">Only instance owners manage operators. Ask an owner if you need access to more pools.</EmptyState>;
  }
  return <OperatorsList selfId={session.user.id} />;
}

function OperatorsList({ selfId }: { selfId: string }) {
  const operators = useQuery({ queryKey: ['operators'], queryFn: () => get<{ items: Operator[] }>('/operators').then((r) => r.items) });
  const pools = usePools();
  const client = useQueryClient();
  const [opened, { open, close }] = useDisclosure(false);
  const [secret, setSecret] = useState<{ email: string; password: string } | null>(null);
  const [editing, setEditing] = useState<Operator | null>(null);
  const action = useMutation({
    mutationFn: ({ op, verb }: { op: Operator; verb: 'deactivate' | 'reactivate' | 'password-reset' }) => post<{ operator: Operator; temporary_password?: string }>(`/operators/${op.id}/${verb}`),
    onSuccess: (answer) => {
      if (answer.temporary_password) setSecret({ email: answer.operator.email, password: answer.temporary_password });
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ['operators'] }),
  });
  return (
    <>
      <PageHeader title="Operators" description="People who run this instance. Admins only see the pools assigned to them." actions={<Button onClick={open}>Add operator</Button>} />
      {action.error ? <ErrorNote error={action.error} /> : null}
      {secret ? (
        <Alert color="yellow" title={`Temporary password for ${secret.email}`} mb="md" withCloseButton onClose={() => setSecret(null)}>
          <Text size="sm">Shown once. They must change it at first sign-in.</Text>
          <Code block mt="xs" data-testid="temporary-password">{secret.password}</Code>
        </Alert>
      ) : null}
      {operators.isLoading ? <Loading /> : operators.error ? <ErrorNote error={operators.error} /> : operators.data!.length <= 1 ? (
        <>
          <OperatorTable items={operators.data!} pools={pools.data} selfId={selfId} onAction={(op, verb) => action.mutate({ op, verb })} onEdit={setEditing} />
          <EmptyState title="You are the only operator">Add an admin and assign pools to share the work without giving away the whole instance.</EmptyState>
        </>
      ) : (
        <OperatorTable items={operators.data!} pools={pools.data} selfId={selfId} onAction={(op, verb) => action.mutate({ op, verb })} onEdit={setEditing} />
      )}
      {editing ? <EditOperatorModal operator={editing} self={editing.id === selfId} onClose={() => setEditing(null)} /> : null}
      <CreateOperatorModal opened={opened} onClose={close} onCreated={(email, password) => setSecret(password ? { email, password } : null)} />
    </>
  );
}

function OperatorTable({ items, pools, selfId, onAction, onEdit }: { items: Operator[]; pools: ReturnType<typeof usePools>['data']; selfId: string; onAction: (op: Operator, verb: 'deactivate' | 'reactivate' | 'password-reset') => void; onEdit: (op: Operator) => void }) {
  return (
    <Table.ScrollContainer minWidth={800}>
      <Table striped highlightOnHover mb="md">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Operator</Table.Th>
            <Table.Th>Role</Table.Th>
            <Table.Th>Pools</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>TOTP</Table.Th>
            <Table.Th>Last sign-in</Table.Th>
            <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((op) => (
            <Table.Tr key={op.id}>
              <Table.Td>
                <Text size="sm">{op.display_name ?? op.email}</Text>
                <Text size="xs" c="dimmed">{op.email}</Text>
              </Table.Td>
              <Table.Td>{op.role === 'instance_owner' ? 'Owner' : 'Admin'}</Table.Td>
              <Table.Td>{op.role === 'instance_owner' ? 'all' : op.pool_ids.map((id) => poolName(pools, id)).join(', ') || 'none'}</Table.Td>
              <Table.Td><StateBadge state={op.status} /></Table.Td>
              <Table.Td><StateBadge state={op.totp_status} /></Table.Td>
              <Table.Td>{relative(op.last_login_at)}</Table.Td>
              <Table.Td>
                {op.id === selfId ? (
                  <Group gap={4} wrap="nowrap">
                    <Button size="xs" variant="default" onClick={() => onEdit(op)} aria-label={`Edit ${op.email}`}>Edit</Button>
                    <Text size="xs" c="dimmed">you</Text>
                  </Group>
                ) : (
                  <Group gap={4} wrap="nowrap">
                    <Button size="xs" variant="default" onClick={() => onEdit(op)} aria-label={`Edit ${op.email}`}>Edit</Button>
                    <Button size="xs" variant="default" onClick={() => onAction(op, 'password-reset')}>Reset password</Button>
                    {op.status === 'active' ? (
                      <Button size="xs" variant="subtle" color="red" onClick={() => { if (window.confirm(`Deactivate ${op.email}?`)) onAction(op, 'deactivate'); }}>Deactivate</Button>
                    ) : (
                      <Button size="xs" variant="subtle" onClick={() => onAction(op, 'reactivate')}>Reactivate</Button>
                    )}
                  </Group>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function CreateOperatorModal({ opened, onClose, onCreated }: { opened: boolean; onClose: () => void; onCreated: (email: string, password: string | undefined) => void }) {
  const client = useQueryClient();
  const pools = usePools();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<string>('instance_admin');
  const [poolIds, setPoolIds] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => post<{ operator: Operator; temporary_password?: string }>('/operators', { email, ...(name.trim() ? { display_name: name.trim() } : {}), role, pool_ids: role === 'instance_admin' ? poolIds : [] }),
    onSuccess: (answer) => {
      onCreated(answer.operator.email, answer.temporary_password);
      void client.invalidateQueries({ queryKey: ['operators'] });
      setEmail('');
      setName('');
      setPoolIds([]);
      onClose();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  return (
    <Modal opened={opened} onClose={onClose} title="Add operator">
      <form onSubmit={(e) => { e.preventDefault(); setError(null); create.mutate(); }}>
        <Stack>
          {error ? <Alert color="red" role="alert">{error}</Alert> : null}
          <TextInput label="Email" type="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} data-autofocus />
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Select label="Role" data={[{ value: 'instance_admin', label: 'Admin (assigned pools)' }, { value: 'instance_owner', label: 'Owner (everything)' }]} value={role} onChange={(v) => setRole(v ?? 'instance_admin')} allowDeselect={false} />
          {role === 'instance_admin' ? (
            <MultiSelect label="Pools" data={(pools.data ?? []).filter((p) => p.status !== 'archived').map((p) => ({ value: p.id, label: p.name }))} value={poolIds} onChange={setPoolIds} searchable />
          ) : null}
          <Text size="xs" c="dimmed">A temporary password is generated and shown once; invites by email are coming.</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" loading={create.isPending}>Add</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Name, email, role and (for admins) pool assignments; a role change signs the operator out. */
function EditOperatorModal({ operator, self, onClose }: { operator: Operator; self: boolean; onClose: () => void }) {
  const client = useQueryClient();
  const pools = usePools();
  const [email, setEmail] = useState(operator.email);
  const [name, setName] = useState(operator.display_name ?? '');
  const [role, setRole] = useState(operator.role);
  const [poolIds, setPoolIds] = useState<string[]>(operator.pool_ids);
  const save = useMutation({
    mutationFn: () => patch<{ operator: Operator }>(`/operators/${operator.id}`, { email: email.trim(), display_name: name.trim() || null, role, ...(role === 'instance_admin' ? { pool_ids: poolIds } : {}) }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['operators'] });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Edit ${operator.email}`}>
      <form onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
        <Stack>
          {save.error ? <Alert color="red" role="alert">{errorMessage(save.error)}</Alert> : null}
          <TextInput label="Email" type="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} data-autofocus />
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Select label="Role" data={[{ value: 'instance_admin', label: 'Admin (assigned pools)' }, { value: 'instance_owner', label: 'Owner (everything)' }]} value={role} onChange={(v) => setRole(v ?? operator.role)} allowDeselect={false} disabled={self} description={self ? 'Another owner must change your role.' : undefined} />
          {role === 'instance_admin' ? (
            <MultiSelect label="Pools" description="An admin sees and manages only these pools." data={(pools.data ?? []).filter((p) => p.status !== 'archived').map((p) => ({ value: p.id, label: p.name }))} value={poolIds} onChange={setPoolIds} searchable />
          ) : null}
          {role !== operator.role ? <Alert color="yellow">Changing the role signs {operator.email} out everywhere.</Alert> : null}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" loading={save.isPending}>Save</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
