import { Alert, Anchor, Button, Code, CopyButton, Group, Modal, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { errorMessage, post, type Account, type DevicePoll, type Linked, type OAuthFlow } from '../api.ts';
import { PoolSelect } from '../components.tsx';

/** Who the sign-in is for: a new account in a Pool, or re-authenticating an existing account. */
export type SignInTarget = { kind: 'new'; poolId: string | null } | { kind: 'relink'; account: Account };

const startPath = (target: SignInTarget, flow: 'browser' | 'device') => (target.kind === 'relink' ? `/accounts/${target.account.id}/oauth/${flow}` : `/accounts/oauth/${flow}`);
const startBody = (target: SignInTarget, poolId: string | null) => (target.kind === 'relink' ? {} : { pool_id: poolId });
/** A server message as the start of a sentence the dialog continues. */
const sentence = (message: string) => message.replace(/[.\s]+$/, '');
const doneText = (linked: Linked, relink: boolean) => `${relink ? 'Re-authenticated' : linked.created ? 'Linked' : 'Updated'} ${linked.account.label ?? linked.account.email ?? 'account'} (${linked.account.state.replaceAll('_', ' ')}).`;

/** Browser sign-in: open the ChatGPT link, then paste the localhost address the browser ended on. */
export function BrowserSignInModal({ target, onClose, onDone }: { target: SignInTarget | null; onClose: () => void; onDone: () => void }) {
  const [poolId, setPoolId] = useState<string | null>(null);
  const [started, setStarted] = useState<{ flow: OAuthFlow; authorize_url: string } | null>(null);
  const [callback, setCallback] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  useEffect(() => {
    setPoolId(target?.kind === 'new' ? target.poolId : null);
    setStarted(null);
    setCallback('');
    setError(null);
    setResult(null);
  }, [target]);
  const start = useMutation({
    mutationFn: () => post<{ flow: OAuthFlow; authorize_url: string }>(startPath(target!, 'browser'), startBody(target!, poolId)),
    onSuccess: (answer) => {
      setStarted(answer);
      setError(null);
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const complete = useMutation({
    mutationFn: () => post<Linked>('/accounts/oauth/browser/complete', { flow_id: started!.flow.id, callback_url: callback.trim() }),
    onSuccess: (answer) => {
      setResult(doneText(answer, target?.kind === 'relink'));
      setError(null);
      onDone();
    },
    // The server ends a sign-in on any failed completion (one paste per link), so offer a new link.
    onError: (e) => {
      setError(`${sentence(errorMessage(e))}. That sign-in link can't be used again: get a new one.`);
      setStarted(null);
      setCallback('');
    },
  });
  const relink = target?.kind === 'relink';
  return (
    <Modal opened={target !== null} onClose={onClose} title={relink ? 'Re-authenticate with ChatGPT' : 'Sign in with ChatGPT'} size="lg">
      <Stack>
        {error ? <Alert color="red" role="alert">{error}</Alert> : null}
        {result ? <Alert color="green" role="status">{result}</Alert> : null}
        {relink ? <Text size="sm">Sign in as <strong>{target.account.email ?? target.account.label}</strong>; another ChatGPT account is refused.</Text> : <PoolSelect value={poolId} onChange={setPoolId} required />}
        {!started ? (
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button onClick={() => start.mutate()} loading={start.isPending} disabled={!relink && !poolId}>Get sign-in link</Button>
          </Group>
        ) : (
          <form onSubmit={(e) => { e.preventDefault(); complete.mutate(); }}>
            <Stack>
              <Text size="sm">1. Open this link and sign in with the ChatGPT account (it expires in 10 minutes):</Text>
              <Group gap="xs" wrap="nowrap">
                <Anchor href={started.authorize_url} target="_blank" rel="noopener noreferrer" size="sm" style={{ wordBreak: 'break-all' }}>Open ChatGPT sign-in</Anchor>
                <CopyButton value={started.authorize_url}>{({ copied, copy }) => <Button size="xs" variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy link'}</Button>}</CopyButton>
              </Group>
              <Text size="sm">2. The browser ends on <Code>http://localhost:1455/auth/callback?…</Code> (the page may not load; that is expected). Paste that whole address:</Text>
              <TextInput label="Callback address" placeholder="http://localhost:1455/auth/callback?code=…&state=…" value={callback} onChange={(e) => setCallback(e.currentTarget.value)} required />
              <Group justify="flex-end">
                <Button variant="default" onClick={onClose}>Close</Button>
                <Button type="submit" loading={complete.isPending} disabled={!callback.trim() || result !== null}>Finish sign-in</Button>
              </Group>
            </Stack>
          </form>
        )}
      </Stack>
    </Modal>
  );
}

/** Device code: show the code and the page to enter it on, poll while the dialog is open. */
export function DeviceSignInModal({ target, onClose, onDone }: { target: SignInTarget | null; onClose: () => void; onDone: () => void }) {
  const [poolId, setPoolId] = useState<string | null>(null);
  const [flow, setFlow] = useState<OAuthFlow | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const stop = () => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
  };
  useEffect(() => {
    setPoolId(target?.kind === 'new' ? target.poolId : null);
    setFlow(null);
    setError(null);
    setResult(null);
    return stop;
  }, [target]);
  const schedule = (current: OAuthFlow) => {
    stop();
    timer.current = setTimeout(() => {
      post<DevicePoll>(`/accounts/oauth/device/${current.id}/poll`)
        .then((answer) => {
          if (answer.status === 'completed') {
            setResult(doneText(answer, target?.kind === 'relink'));
            onDone();
          } else {
            setFlow(answer.flow);
            schedule(answer.flow);
          }
        })
        // A denied, expired or refused code ends the sign-in: show why and offer a new code.
        .catch((e: unknown) => {
          setError(`${sentence(errorMessage(e))}. Get a new code to try again.`);
          setFlow(null);
        });
    }, (current.interval_seconds ?? 5) * 1000);
  };
  const start = useMutation({
    mutationFn: () => post<{ flow: OAuthFlow }>(startPath(target!, 'device'), startBody(target!, poolId)),
    onSuccess: (answer) => {
      setFlow(answer.flow);
      setError(null);
      schedule(answer.flow);
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const close = () => {
    stop();
    onClose();
  };
  const relink = target?.kind === 'relink';
  return (
    <Modal opened={target !== null} onClose={close} title={relink ? 'Re-authenticate with a device code' : 'Sign in with a device code'}>
      <Stack>
        {error ? <Alert color="red" role="alert">{error}</Alert> : null}
        {result ? <Alert color="green" role="status">{result}</Alert> : null}
        {relink ? <Text size="sm">Sign in as <strong>{target.account.email ?? target.account.label}</strong>.</Text> : !flow ? <PoolSelect value={poolId} onChange={setPoolId} required /> : null}
        {flow && !result ? (
          <>
            <Text size="sm">Open <Anchor href={flow.verification_url ?? '#'} target="_blank" rel="noopener noreferrer">{flow.verification_url}</Anchor>, sign in to ChatGPT and enter:</Text>
            <Code fz="xl" ta="center" p="md" aria-label="Device code">{flow.user_code}</Code>
            <Text size="xs" c="dimmed" role="status">Waiting for approval… (checks every {flow.interval_seconds ?? 5} s; the code expires {new Date(flow.expires_at).toLocaleTimeString()})</Text>
          </>
        ) : null}
        <Group justify="flex-end">
          <Button variant="default" onClick={close}>{result ? 'Done' : 'Cancel'}</Button>
          {!flow ? <Button onClick={() => start.mutate()} loading={start.isPending} disabled={!relink && !poolId}>Get a code</Button> : null}
        </Group>
      </Stack>
    </Modal>
  );
}
