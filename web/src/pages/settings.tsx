import { Alert, Button, Code, CopyButton, Group, NumberInput, Paper, PasswordInput, Select, SimpleGrid, Stack, Switch, Table, Tabs, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { QRCodeSVG } from 'qrcode.react';
import { useState, type FormEvent } from 'react';
import { del, errorMessage, get, post, put, type InstanceSettings, type OperatorSession } from '../api.ts';
import { ErrorNote, Loading, PageHeader, StateBadge } from '../components.tsx';
import { formatTime, relative } from '../format.ts';
import { sessionKey, useSignedIn } from '../session.tsx';

type Totp = { status: 'disabled' | 'pending' | 'active'; enrolled_at: string | null; remaining_recovery_codes: number | null };
type Enrollment = { secret: string; otpauth_uri: string; recovery_codes: string[] };

export function SettingsPage() {
  const session = useSignedIn();
  const required = session.auth.password_change_required;
  const owner = session.auth.permissions['instance_settings.manage'];
  return (
    <>
      <PageHeader title="Settings" description={`Your account: ${session.user.email} (${session.auth.roles.includes('instance_owner') ? 'owner' : 'admin'}).`} />
      {session.auth.password_change_required ? (
        <Alert color="yellow" title="Change your temporary password" mb="lg">Everything else unlocks once you choose your own password.</Alert>
      ) : null}
      {/* One tree in both modes: the password card keeps its "changed" message when the flag clears. */}
      <Tabs defaultValue="security" keepMounted={false}>
        <Tabs.List mb="md">
          <Tabs.Tab value="security">Security</Tabs.Tab>
          {owner && !required ? <Tabs.Tab value="instance">Instance</Tabs.Tab> : null}
        </Tabs.List>
        <Tabs.Panel value="security">
          <SimpleGrid cols={{ base: 1, lg: 2 }} mb="lg">
            <PasswordCard required={required} />
            {required ? null : <TotpCard />}
          </SimpleGrid>
          {required ? null : <SessionsCard />}
        </Tabs.Panel>
        {owner && !required ? (
          <Tabs.Panel value="instance">
            <Stack>
              <MetricsCard />
              <InstanceSettingsCard />
            </Stack>
          </Tabs.Panel>
        ) : null}
      </Tabs>
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

/** The operator's own signed-in sessions (current first), each revocable; or all the others at once. */
function SessionsCard() {
  const client = useQueryClient();
  const sessions = useQuery({ queryKey: ['me', 'sessions'], queryFn: () => get<{ items: OperatorSession[] }>('/me/sessions').then((r) => r.items) });
  const done = () => void client.invalidateQueries({ queryKey: ['me', 'sessions'] });
  const revoke = useMutation({
    mutationFn: (session: OperatorSession) => del<{ signed_out: boolean }>(`/me/sessions/${session.id}`),
    onSuccess: (answer) => (answer.signed_out ? void client.invalidateQueries({ queryKey: sessionKey }) : done()),
  });
  const revokeOthers = useMutation({ mutationFn: () => post('/me/sessions/revoke-others'), onSuccess: done });
  const others = (sessions.data ?? []).filter((s) => !s.current).length;
  const now = Date.now();
  return (
    <Paper withBorder p="lg">
      <Group justify="space-between" mb="md">
        <Title order={2} size="h4">Sessions</Title>
        <Button size="xs" variant="light" color="red" disabled={others === 0} loading={revokeOthers.isPending} onClick={() => revokeOthers.mutate()}>End all other sessions</Button>
      </Group>
      {revoke.error || revokeOthers.error ? <ErrorNote error={revoke.error ?? revokeOthers.error} /> : null}
      {sessions.isLoading ? <Loading /> : sessions.error ? <ErrorNote error={sessions.error} /> : (
        <Table.ScrollContainer minWidth={720}>
          <Table striped data-testid="sessions-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Browser</Table.Th>
                <Table.Th>IP address</Table.Th>
                <Table.Th>Signed in</Table.Th>
                <Table.Th>Last seen</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {sessions.data!.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td><Text size="sm" lineClamp={1} maw={320} title={s.user_agent ?? undefined}>{s.user_agent ?? 'unknown'}</Text></Table.Td>
                  <Table.Td>{s.ip_address ?? '—'}</Table.Td>
                  <Table.Td>{formatTime(s.created_at)}</Table.Td>
                  <Table.Td>{relative(s.last_seen_at, now)}</Table.Td>
                  <Table.Td>{relative(s.expires_at, now)}</Table.Td>
                  <Table.Td>
                    {s.current ? <StateBadge state="this session" /> : (
                      <Button size="xs" variant="subtle" color="red" onClick={() => revoke.mutate(s)}>End session</Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Paper>
  );
}

type MetricsProtection = { mode: 'open' | 'bearer_env' | 'bearer_stored'; fingerprint?: string; set_at?: string };
const METRICS_MODES: Record<MetricsProtection['mode'], string> = {
  open: 'Open: anyone who can reach /metrics can read it.',
  bearer_env: 'Protected by CODEX_POOLER_METRICS_TOKEN from the environment.',
  bearer_stored: 'Protected by a token stored in instance settings.',
};

/** A Prometheus scrape job for this instance with the token inline (or point `credentials_file` at it). */
const scrapeConfig = (token: string) =>
  [
    'scrape_configs:',
    '  - job_name: codex-pooler',
    '    metrics_path: /metrics',
    `    scheme: ${window.location.protocol === 'https:' ? 'https' : 'http'}`,
    '    static_configs:',
    `      - targets: ['${window.location.host}']`,
    `    authorization: { credentials: ${token} }`,
  ].join('\n');

/**
 * The /metrics bearer token (owner only). A generated token is shown once; only its fingerprint is
 * kept. While the environment token is set it wins, so the stored one cannot be changed here.
 */
function MetricsCard() {
  const client = useQueryClient();
  const metrics = useQuery({ queryKey: ['settings', 'metrics'], queryFn: () => get<MetricsProtection>('/settings/metrics') });
  const [generated, setGenerated] = useState<string | null>(null);
  const changed = (protection: MetricsProtection) => {
    client.setQueryData(['settings', 'metrics'], protection);
    // The change bumps the settings lock version: reload it so the next save is not stale.
    void client.invalidateQueries({ queryKey: ['settings'], exact: true });
  };
  const generate = useMutation({
    mutationFn: () => post<MetricsProtection & { token: string }>('/settings/metrics/token', { generate: true }),
    onSuccess: ({ token, ...protection }) => {
      setGenerated(token);
      changed(protection);
    },
  });
  const remove = useMutation({
    mutationFn: () => del<MetricsProtection>('/settings/metrics/token'),
    onSuccess: (protection) => {
      setGenerated(null);
      changed(protection);
    },
  });
  const data = metrics.data;
  const fromEnv = data?.mode === 'bearer_env';
  return (
    <Paper withBorder p="lg" data-testid="settings-metrics">
      <Group justify="space-between" mb="md">
        <Title order={2} size="h4">Metrics</Title>
        {data ? <StateBadge state={data.mode === 'open' ? 'open' : 'protected'} /> : null}
      </Group>
      {metrics.isLoading ? <Loading /> : metrics.error ? <ErrorNote error={metrics.error} retry={() => void metrics.refetch()} /> : (
        <Stack>
          <Text size="sm">{METRICS_MODES[data!.mode]}</Text>
          {data!.fingerprint ? (
            <Text size="sm">
              Token fingerprint <Code>{data!.fingerprint}</Code>{data!.set_at ? `, set ${formatTime(data!.set_at)}` : ''}.
            </Text>
          ) : null}
          {fromEnv ? (
            <Alert color="blue" title="Managed by the environment">
              CODEX_POOLER_METRICS_TOKEN is set on this instance and wins over a stored token. Change or unset it where the instance is deployed (for example its Kubernetes Secret or .env).
            </Alert>
          ) : null}
          {generate.error || remove.error ? <ErrorNote error={generate.error ?? remove.error} /> : null}
          {generated ? (
            <Alert color="yellow" title="Copy the token now" withCloseButton onClose={() => setGenerated(null)}>
              <Stack gap="xs">
                <Text size="sm">This is the only time it is shown. Scrapers send it as "Authorization: Bearer &lt;token&gt;"; the previous token no longer works.</Text>
                <Code block data-testid="metrics-token">{generated}</Code>
                <Group>
                  <CopyButton value={generated}>{({ copied, copy }) => <Button size="xs" variant="light" onClick={copy}>{copied ? 'Copied' : 'Copy token'}</Button>}</CopyButton>
                </Group>
                <Text size="sm">Example Prometheus scrape job:</Text>
                <Code block>{scrapeConfig(generated)}</Code>
              </Stack>
            </Alert>
          ) : null}
          <Group justify="flex-end">
            <Button variant="light" color="red" disabled={fromEnv || data!.mode !== 'bearer_stored'} loading={remove.isPending} onClick={() => remove.mutate()}>
              Remove token
            </Button>
            <Button disabled={fromEnv} loading={generate.isPending} onClick={() => generate.mutate()}>
              {data!.mode === 'bearer_stored' ? 'Generate new token' : 'Generate token'}
            </Button>
          </Group>
        </Stack>
      )}
    </Paper>
  );
}

/** Fixed choices of instance settings (the server validates them too). */
const SETTING_CHOICES: Record<string, string[]> = {
  'ingress.forwarded_client_ip_source': ['peer', 'x_forwarded_for', 'x_real_ip'],
  'smtp.tls': ['always', 'if_available', 'never'],
};
const GROUP_TITLES: Record<string, string> = {
  gateway: 'Gateway',
  ingress: 'Ingress and firewall',
  files: 'Files',
  transcription: 'Transcription',
  operator: 'Operators',
  catalog: 'Model catalog and prices',
  mcp: 'MCP',
  smtp: 'Email (SMTP)',
  retention: 'Retention',
};
/**
 * Settings this build stores but does not act on yet (whole groups, or single `group.key`s): the
 * page says so rather than suggest a save changes behaviour. Keep in step with docs/admin-api.md.
 */
const NOT_APPLIED_GROUPS = new Set(['gateway', 'operator', 'catalog', 'mcp', 'smtp']);
const NOT_APPLIED_KEYS = new Set(['files.upload_ttl_seconds']);
const NOT_APPLIED_NOTE = 'Stored; not applied by this build yet.';
const labelOf = (key: string) => key.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase());

type Draft = Record<string, Record<string, unknown>>;

/** Instance settings (owner only), one group at a time; saves only what changed, with the lock version. */
function InstanceSettingsCard() {
  const client = useQueryClient();
  const settings = useQuery({ queryKey: ['settings'], queryFn: () => get<InstanceSettings>('/settings') });
  const [drafts, setDrafts] = useState<Draft>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const save = useMutation({
    mutationFn: (group: string) => put<InstanceSettings>('/settings', { lock_version: settings.data!.lock_version, settings: { [group]: normalised(settings.data!.settings[group]!, drafts[group]!) } }),
    onSuccess: (answer, group) => {
      client.setQueryData(['settings'], answer);
      setDrafts(({ [group]: _saved, ...rest }) => rest);
      setMessage({ ok: true, text: `${GROUP_TITLES[group] ?? group} saved.` });
    },
    onError: (e) => setMessage({ ok: false, text: errorMessage(e) }),
  });
  if (settings.isLoading) return <Loading />;
  if (settings.error) return <ErrorNote error={settings.error} retry={() => void settings.refetch()} />;
  const data = settings.data!;
  const valueOf = (group: string, key: string) => (drafts[group] && key in drafts[group]! ? drafts[group]![key] : data.settings[group]![key]);
  const set = (group: string, key: string, value: unknown) => setDrafts((d) => ({ ...d, [group]: { ...d[group], [key]: value } }));
  return (
    <Stack>
      <Text size="sm" c="dimmed">Apply to every process within a minute. Last saved {formatTime(data.updated_at)} (version {data.lock_version}).</Text>
      {message ? <Alert color={message.ok ? 'green' : 'red'} role={message.ok ? 'status' : 'alert'} withCloseButton onClose={() => setMessage(null)}>{message.text}</Alert> : null}
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        {Object.entries(data.settings).map(([group, values]) => (
          <Paper withBorder p="lg" key={group} data-testid={`settings-group-${group}`}>
            <form onSubmit={(e) => { e.preventDefault(); setMessage(null); save.mutate(group); }}>
              <Stack gap="sm">
                <Title order={2} size="h5">{GROUP_TITLES[group] ?? group}</Title>
                {NOT_APPLIED_GROUPS.has(group) ? <Text size="xs" c="dimmed" data-testid={`settings-not-applied-${group}`}>{NOT_APPLIED_NOTE}</Text> : null}
                {Object.keys(values).map((key) => (
                  <SettingField
                    key={key}
                    name={`${group}.${key}`}
                    label={labelOf(key)}
                    note={NOT_APPLIED_KEYS.has(`${group}.${key}`) ? NOT_APPLIED_NOTE : undefined}
                    value={valueOf(group, key)}
                    onChange={(v) => set(group, key, v)}
                  />
                ))}
                <Group justify="flex-end">
                  {drafts[group] ? <Button variant="default" onClick={() => setDrafts(({ [group]: _dropped, ...rest }) => rest)}>Discard</Button> : null}
                  <Button type="submit" disabled={!drafts[group]} loading={save.isPending && save.variables === group}>Save</Button>
                </Group>
              </Stack>
            </form>
          </Paper>
        ))}
      </SimpleGrid>
    </Stack>
  );
}

/** A draft as the server wants it: list entries trimmed, blank lines dropped. */
function normalised(saved: Record<string, unknown>, draft: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(draft).map(([key, value]) => [key, Array.isArray(saved[key]) && Array.isArray(value) ? value.map((v) => String(v).trim()).filter(Boolean) : value]),
  );
}

/** One setting, with the input its value's type calls for. Lists are edited one entry per line. */
function SettingField({ name, label, note, value, onChange }: { name: string; label: string; note?: string | undefined; value: unknown; onChange: (value: unknown) => void }) {
  if (SETTING_CHOICES[name]) return <Select label={label} description={note} data={SETTING_CHOICES[name]!} value={String(value)} onChange={(v) => onChange(v)} allowDeselect={false} />;
  if (typeof value === 'boolean') return <Switch label={label} description={note} checked={value} onChange={(e) => onChange(e.currentTarget.checked)} />;
  if (typeof value === 'number') return <NumberInput label={label} description={note} value={value} onChange={(v) => onChange(typeof v === 'number' ? v : Number(v))} allowDecimal={false} />;
  if (Array.isArray(value)) {
    return (
      <Textarea
        label={label}
        description={note ? `One entry per line. ${note}` : 'One entry per line'}
        value={value.join('\n')}
        onChange={(e) => onChange(e.currentTarget.value.split('\n'))}
        autosize
        minRows={2}
      />
    );
  }
  return <TextInput label={label} description={note} value={value == null ? '' : String(value)} onChange={(e) => onChange(e.currentTarget.value === '' && value === null ? null : e.currentTarget.value)} />;
}
