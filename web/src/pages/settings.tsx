import { Alert, Button, Code, Group, Paper, PasswordInput, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { QRCodeSVG } from 'qrcode.react';
import { useState, type FormEvent } from 'react';
import { errorMessage, get, post } from '../api.ts';
import { ErrorNote, Loading, PageHeader, StateBadge } from '../components.tsx';
import { formatTime } from '../format.ts';
import { sessionKey, useSignedIn } from '../session.tsx';

type Totp = { status: 'disabled' | 'pending' | 'active'; enrolled_at: string | null; remaining_recovery_codes: number | null };
type Enrollment = { secret: string; otpauth_uri: string; recovery_codes: string[] };

export function SettingsPage() {
  const session = useSignedIn();
  return (
    <>
      <PageHeader title="Settings" description={`Your account: ${session.user.email} (${session.auth.roles.includes('instance_owner') ? 'owner' : 'admin'}).`} />
      {session.auth.password_change_required ? (
        <Alert color="yellow" title="Change your temporary password" mb="lg">Everything else unlocks once you choose your own password.</Alert>
      ) : null}
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        <PasswordCard required={session.auth.password_change_required} />
        {session.auth.password_change_required ? null : <TotpCard />}
      </SimpleGrid>
    </>
  );
}

function PasswordCard({ required }: { required: boolean }) {
  const client = useQueryClient();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const change = useMutation({
    mutationFn: (body: { current_password?: string; new_password: string }) => post<{ revoked_sessions: number }>('/me/password', body),
    onSuccess: (answer) => {
      setMessage({ ok: true, text: `Password changed. ${answer.revoked_sessions} other session(s) signed out.` });
      void client.invalidateQueries({ queryKey: sessionKey });
    },
    onError: (e) => setMessage({ ok: false, text: errorMessage(e) }),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    if (form.get('new_password') !== form.get('confirm')) return setMessage({ ok: false, text: 'The two new passwords differ.' });
    setMessage(null);
    change.mutate({ ...(required ? {} : { current_password: String(form.get('current_password')) }), new_password: String(form.get('new_password')) });
    event.currentTarget.reset();
  };
  return (
    <Paper withBorder p="lg">
      <Title order={2} size="h4" mb="md">Password</Title>
      <form onSubmit={submit}>
        <Stack>
          {message ? <Alert color={message.ok ? 'green' : 'red'} role={message.ok ? 'status' : 'alert'}>{message.text}</Alert> : null}
          {required ? null : <PasswordInput name="current_password" label="Current password" required autoComplete="current-password" />}
          <PasswordInput name="new_password" label="New password" description="At least 12 characters" required autoComplete="new-password" />
          <PasswordInput name="confirm" label="Repeat new password" required autoComplete="new-password" />
          <Group justify="flex-end"><Button type="submit" loading={change.isPending}>Change password</Button></Group>
        </Stack>
      </form>
    </Paper>
  );
}

function TotpCard() {
  const client = useQueryClient();
  const totp = useQuery({ queryKey: ['me', 'totp'], queryFn: () => get<Totp>('/me/totp') });
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ['me', 'totp'] });
    void client.invalidateQueries({ queryKey: sessionKey });
  };
  const start = useMutation({
    mutationFn: () => post<Enrollment>('/me/totp/enrollment'),
    onSuccess: (answer) => {
      setEnrollment(answer);
      setCode('');
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const confirm = useMutation({
    mutationFn: () => post('/me/totp/confirm', { code: code.trim() }),
    onSuccess: () => {
      setEnrollment(null);
      setCode('');
      refresh();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const disable = useMutation({
    mutationFn: () => post('/me/totp/disable', /^\d{6}$/.test(code.trim()) ? { code: code.trim() } : { recovery_code: code.trim() }),
    onSuccess: () => {
      setCode('');
      refresh();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const download = (codes: string[]) => {
    const url = URL.createObjectURL(new Blob([`${codes.join('\n')}\n`], { type: 'text/plain' }));
    const link = Object.assign(document.createElement('a'), { href: url, download: 'codex-pooler-recovery-codes.txt' });
    link.click();
    URL.revokeObjectURL(url);
  };

  return (
    <Paper withBorder p="lg">
      <Group justify="space-between" mb="md">
        <Title order={2} size="h4">Two-factor authentication</Title>
        {totp.data ? <StateBadge state={totp.data.status} /> : null}
      </Group>
      {totp.isLoading ? <Loading /> : totp.error ? <ErrorNote error={totp.error} /> : (
        <Stack>
          {error ? <Alert color="red" role="alert" withCloseButton onClose={() => setError(null)}>{error}</Alert> : null}
          {enrollment ? (
            <form onSubmit={(e) => { e.preventDefault(); setError(null); confirm.mutate(); }}>
              <Stack>
                <Text size="sm">Scan this code with an authenticator app (or enter the secret), then type the 6-digit code it shows.</Text>
                <Group align="flex-start">
                  <Paper p="xs" bg="white" withBorder><QRCodeSVG value={enrollment.otpauth_uri} size={168} title="TOTP QR code" /></Paper>
                  <Stack gap={4} style={{ flex: 1, minWidth: 0 }}>
                    <Text size="xs" c="dimmed">Secret</Text>
                    <Code data-testid="totp-secret" style={{ wordBreak: 'break-all' }}>{enrollment.secret}</Code>
                    <Text size="xs" c="dimmed">otpauth URI</Text>
                    <Code style={{ wordBreak: 'break-all' }} fz="xs">{enrollment.otpauth_uri}</Code>
                  </Stack>
                </Group>
                <Alert color="yellow" title="Recovery codes (shown once)">
                  <Code block>{enrollment.recovery_codes.join('\n')}</Code>
                  <Button size="xs" variant="light" mt="xs" onClick={() => download(enrollment.recovery_codes)}>Download</Button>
                </Alert>
                <TextInput label="Code from your app" value={code} onChange={(e) => setCode(e.currentTarget.value)} inputMode="numeric" autoComplete="one-time-code" maxLength={6} required />
                <Group justify="flex-end">
                  <Button variant="default" onClick={() => setEnrollment(null)}>Cancel</Button>
                  <Button type="submit" loading={confirm.isPending}>Confirm and turn on</Button>
                </Group>
              </Stack>
            </form>
          ) : totp.data!.status === 'active' ? (
            <form onSubmit={(e) => { e.preventDefault(); setError(null); disable.mutate(); }}>
              <Stack>
                <Text size="sm">On since {formatTime(totp.data!.enrolled_at)}. {totp.data!.remaining_recovery_codes ?? 0} recovery codes left.</Text>
                <TextInput label="Code or recovery code to turn it off" value={code} onChange={(e) => setCode(e.currentTarget.value)} required />
                <Group justify="flex-end"><Button type="submit" color="red" variant="light" loading={disable.isPending}>Turn off</Button></Group>
              </Stack>
            </form>
          ) : (
            <Stack align="flex-start">
              <Text size="sm">Protect your sign-in with a code from an authenticator app. It applies from your next sign-in.</Text>
              <Button onClick={() => { setError(null); start.mutate(); }} loading={start.isPending}>Set up two-factor authentication</Button>
            </Stack>
          )}
        </Stack>
      )}
    </Paper>
  );
}
