import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { getJson, killAllPoolers, poolerEnv, runPooler, startPooler, type PoolerProcess } from '../support/processes.ts';

/**
 * `npm start` on a fresh machine: no DATABASE_URL, one `all` process owning the embedded database,
 * and operator commands reaching it over the loopback control channel.
 */
describe('embedded database with `all`', () => {
  let dataDir: string;
  let workDir: string;
  let upstream: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  let rawKey: string;
  let server: PoolerProcess;
  let port: number;
  const cli = (args: string[], input?: string) => runPooler(args, { env, ...(input === undefined ? {} : { input }) });
  const mode = async (file: string) => (await stat(join(dataDir, file))).mode & 0o777;
  const exists = (file: string) => stat(join(dataDir, file)).then(() => true, () => false);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cxp-embedded-'));
    workDir = await mkdtemp(join(tmpdir(), 'cxp-embedded-cwd-'));
    upstream = await startFakeUpstream();
    env = poolerEnv({ CODEX_POOLER_DATA_DIR: dataDir, PORT: '0', CODEX_POOLER_UPSTREAM_BASE_URL: upstream.url, CODEX_POOLER_AUTH_ISSUER: upstream.url });
  });

  afterAll(async () => {
    await killAllPoolers();
    await upstream?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  });

  test('serves health, readiness and bootstrap status; secrets and control file are private', async () => {
    server = startPooler(['all'], env);
    port = await server.waitForListening(90_000);
    expect(await getJson(`http://127.0.0.1:${port}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await getJson(`http://127.0.0.1:${port}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await getJson(`http://127.0.0.1:${port}/bootstrap/status`)).toEqual({ status: 200, body: { status: 'ok', bootstrap: 'pending' } });
    expect(await mode('secrets.json')).toBe(0o600);
    expect(await mode('control.json')).toBe(0o600);
  }, 100_000);

  test('operator commands run inside the server over the control channel', async () => {
    const created = await cli(['pools', 'create', 'Team Embedded']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created pool team-embedded \(/);

    const key = await cli(['keys', 'create', '--pool', 'team-embedded', '--label', 'laptop']);
    expect(key.code, key.stderr).toBe(0);
    const lines = key.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    rawKey = lines.at(-1)!;

    const pools = await cli(['pools', 'list', '--json']);
    expect(pools.code, pools.stderr).toBe(0);
    expect(JSON.parse(pools.stdout)).toEqual([
      { id: expect.any(String), slug: 'team-embedded', name: 'Team Embedded', status: 'active', account_count: 0, key_count: 1 },
    ]);

    const keys = await cli(['keys', 'list', '--pool', 'team-embedded', '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    const [listed] = JSON.parse(keys.stdout) as Record<string, unknown>[];
    expect(Object.keys(listed!).sort()).toEqual(['created_at', 'expires_at', 'id', 'label', 'last_used_at', 'pool', 'prefix', 'state']);
    expect(listed).toMatchObject({ pool: 'team-embedded', label: 'laptop', state: 'active', prefix: lines.at(-1)!.slice(0, 19) });
    expect(keys.stdout).not.toContain(lines.at(-1)!);

    const missing = await cli(['keys', 'create', '--pool', 'no-such-pool']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('codex-pooler: pool "no-such-pool" does not exist\n');
  }, 60_000);

  test('accounts import a relative auth.json path (and stdin) through the control channel', async () => {
    const account = await upstream.addAccount({ accountId: 'acct-embedded-1', email: 'dev@example.com', planType: 'pro' });
    await writeFile(join(workDir, 'auth.json'), JSON.stringify(account.authJson));
    // The file name is relative to the CLI's working directory, not the server's.
    const imported = await runPooler(['accounts', 'import', '--pool', 'team-embedded', 'auth.json'], { env, cwd: workDir });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported account [0-9a-f-]{36} \(dev@example\.com\) in pool team-embedded$/m);

    const again = await cli(['accounts', 'import', '--pool', 'team-embedded', '-'], JSON.stringify(account.authJson));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^updated account /);

    const listed = await cli(['accounts', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const accounts = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(accounts).toEqual([
      {
        id: expect.any(String),
        pool: 'team-embedded',
        label: expect.any(String),
        email: 'dev@example.com',
        chatgpt_account_id: 'acct-embedded-1',
        plan: 'pro',
        state: 'active',
        cooldown_until: null,
        quota: { primary: expect.objectContaining({ used_percent: expect.any(Number) }), secondary: expect.anything() },
      },
    ]);
    // The fake upstream reports both windows; each has exactly these fields.
    for (const window of Object.values(accounts[0]!.quota as Record<string, object>)) {
      expect(Object.keys(window).sort()).toEqual(['resets_at', 'used_percent', 'window_minutes']);
    }

    const disabled = await cli(['accounts', 'disable', accounts[0]!.id as string]);
    expect(disabled).toMatchObject({ code: 0, stdout: `account ${accounts[0]!.id as string} is now disabled\n` });
    const table = await cli(['accounts', 'list']);
    expect(table.stdout).toMatch(/^ID\s+POOL\s+LABEL\s+EMAIL\s+PLAN\s+STATE\s+PRIMARY\s+SECONDARY$/m);
    expect(table.stdout).toMatch(/team-embedded\s+.*dev@example\.com\s+pro\s+disabled/);

    const enabled = await cli(['accounts', 'enable', accounts[0]!.id as string]);
    expect(enabled).toMatchObject({ code: 0, stdout: `account ${accounts[0]!.id as string} is now active\n` });

    const broken = await cli(['accounts', 'import', '--pool', 'team-embedded', '-'], '{"auth_mode":"apikey"}');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^codex-pooler: auth\.json is invalid: /);
  }, 90_000);

  test('operators bootstrap reads the password from stdin and succeeds only once', async () => {
    const first = await cli(['operators', 'bootstrap', '--email', 'Owner@Example.com'], 'correct horse battery staple\n');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('owner@example.com');
    expect(await getJson(`http://127.0.0.1:${port}/bootstrap/status`)).toEqual({ status: 200, body: { status: 'ok', bootstrap: 'completed' } });

    const second = await cli(['operators', 'bootstrap', '--email', 'other@example.com'], 'another password here\n');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^codex-pooler: bootstrap is already completed/);
  }, 60_000);

  test('SIGTERM lets an in-flight stream finish, exits 0 and releases the database; the data survives a restart', async () => {
    upstream.setEventDelayMs(100);
    const response = await fetch(`http://127.0.0.1:${port}/backend-api/codex/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rawKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true }),
    });
    expect(response.status).toBe(200);
    const stopped = server.stop('SIGTERM');
    const text = await response.text(); // still streaming while the server drains
    upstream.setEventDelayMs(0);
    expect(text).toContain('response.completed');
    expect(await stopped).toBe(0);
    expect(await exists('control.json')).toBe(false);
    expect(await exists('embedded.lock')).toBe(false);

    // With no server running, the CLI opens the embedded database itself.
    const offline = await cli(['pools', 'list', '--json']);
    expect(offline.code, offline.stderr).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject([{ slug: 'team-embedded', key_count: 1 }]);

    server = startPooler(['all'], env);
    port = await server.waitForListening(90_000);
    expect(await getJson(`http://127.0.0.1:${port}/bootstrap/status`)).toEqual({ status: 200, body: { status: 'ok', bootstrap: 'completed' } });
    const online = await cli(['pools', 'list', '--json']);
    expect(online.code, online.stderr).toBe(0);
    expect(JSON.parse(online.stdout)).toMatchObject([{ slug: 'team-embedded', key_count: 1 }]);
  }, 120_000);

  test('roles that need PostgreSQL, or the same database, refuse while the server runs', async () => {
    const worker = await cli(['worker']);
    expect(worker.code).toBe(1);
    expect(worker.stderr).toMatch(/^codex-pooler: DATABASE_URL: is required by the worker role/);

    const second = await cli(['all']);
    expect(second.code).toBe(1);
    expect(second.stderr.trimEnd().split('\n').at(-1)).toBe(`codex-pooler: the embedded database is in use by process ${server.pid}; stop it first, or set DATABASE_URL to use PostgreSQL`);
    expect(await server.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
