import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent, type ReactNode } from 'react';
import { api, ApiError, errorMessage, post, type SessionState } from '../api.ts';
import { useSetSession } from '../session.tsx';

const Card = ({ title, subtitle, children }: { title: string; subtitle: ReactNode; children: ReactNode }) => (
  <Center mih="100vh" p="md">
    <Paper withBorder shadow="sm" p="xl" radius="md" w={420} maw="100%" component="main">
      <Title order={1} size="h3" mb={4}>
        {title}
      </Title>
      <Text c="dimmed" size="sm" mb="lg">
        {subtitle}
      </Text>
      {children}
    </Paper>
  </Center>
);

export function BootstrapPage() {
  const setSession = useSetSession();
  const client = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    if (form.get('password') !== form.get('confirm')) return setError('The two passwords differ.');
    setBusy(true);
    setError(null);
    try {
      const session = await post<SessionState>('/bootstrap', { email: form.get('email'), password: form.get('password'), display_name: form.get('display_name') || undefined });
      client.setQueryData(['bootstrap'], { bootstrap: 'completed' });
      setSession(session);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'bootstrap_completed') {
        client.setQueryData(['bootstrap'], { bootstrap: 'completed' });
        return;
      }
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Set up Codex Pooler" subtitle="Create the instance owner. This page is shown once, before anyone has signed in.">
      <form onSubmit={(e) => void submit(e)}>
        <Stack>
          {error ? <Alert color="red" role="alert">{error}</Alert> : null}
          <TextInput name="display_name" label="Your name" autoComplete="name" />
          <TextInput name="email" type="email" label="Email" required autoComplete="email" data-autofocus />
          <PasswordInput name="password" label="Password" description="At least 12 characters" required autoComplete="new-password" />
          <PasswordInput name="confirm" label="Repeat password" required autoComplete="new-password" />
          <Button type="submit" loading={busy}>
            Create owner and sign in
          </Button>
        </Stack>
      </form>
    </Card>
  );
}

export function SignInPage({ mfaPending }: { mfaPending: boolean }) {
  const setSession = useSetSession();
  const [step, setStep] = useState<'password' | 'totp'>(mfaPending ? 'totp' : 'password');
  const [useRecovery, setUseRecovery] = useState(false);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      if (e instanceof ApiError && e.code === 'invalid_session' && step === 'totp') setStep('password');
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const signIn = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    void run(async () => {
      const session = await post<SessionState>('/session', { email: form.get('email'), password: form.get('password') });
      if (session.authenticated) setSession(session);
      else if (session.mfa_required) {
        setStep('totp');
        setCode('');
      }
    });
  };

  const verify = (event?: FormEvent<HTMLFormElement>) => {
    event?.preventDefault();
    void run(async () => {
      const session = await post<SessionState>('/session/totp', useRecovery ? { recovery_code: code.trim() } : { totp_code: code.trim() });
      setSession(session);
    });
  };

  if (step === 'totp') {
    return (
      <Card title="Two-factor sign-in" subtitle="Enter the 6-digit code from your authenticator app.">
        <form onSubmit={verify}>
          <Stack>
            {error ? <Alert color="red" role="alert">{error}</Alert> : null}
            {useRecovery ? (
              <TextInput label="Recovery code" value={code} onChange={(e) => setCode(e.currentTarget.value)} placeholder="ABCD-EFGH-IJKL" required autoComplete="one-time-code" />
            ) : (
              <TextInput
                label="Authenticator code"
                value={code}
                onChange={(e) => setCode(e.currentTarget.value)}
                inputMode="numeric"
                pattern="[0-9]{6}"
                maxLength={6}
                placeholder="123456"
                required
                autoComplete="one-time-code"
                autoFocus
              />
            )}
            <Button type="submit" loading={busy}>
              Verify
            </Button>
            <Button variant="subtle" size="xs" onClick={() => { setUseRecovery(!useRecovery); setCode(''); }}>
              {useRecovery ? 'Use an authenticator code' : 'Use a recovery code instead'}
            </Button>
            <Button variant="subtle" size="xs" color="gray" onClick={() => void api('DELETE', '/session').finally(() => { setStep('password'); setSession({ authenticated: false }); })}>
              Start over
            </Button>
          </Stack>
        </form>
      </Card>
    );
  }

  return (
    <Card title="Sign in" subtitle="Codex Pooler admin">
      <form onSubmit={signIn}>
        <Stack>
          {error ? <Alert color="red" role="alert">{error}</Alert> : null}
          <TextInput name="email" type="email" label="Email" required autoComplete="username" autoFocus />
          <PasswordInput name="password" label="Password" required autoComplete="current-password" />
          <Button type="submit" loading={busy}>
            Sign in
          </Button>
        </Stack>
      </form>
    </Card>
  );
}
