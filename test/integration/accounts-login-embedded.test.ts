import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { BIN, killAllPoolers, poolerEnv, REPO_ROOT, runPooler, startPooler, type PoolerProcess } from '../support/processes.ts';

/**
 * A `codex-pooler` command an operator types and answers while it runs: stdin stays open, and the
 * test reads stderr as it arrives (the link or code must show before the command waits).
 */
class InteractiveCli {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout = '';
  stderr = '';
  #onOutput = new Set<() => void>();

  constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn('node', [BIN, ...args], { env, cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      for (const listener of this.#onOutput) listener();
    });
    this.child.stdin!.on('error', () => {});
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first match of `pattern` in stderr; fails when the command exits first. */
  waitForStderr(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.stderr);
        if (match) return done(() => resolve(match));
        if (!this.running) done(() => reject(new Error(`exited before ${pattern}: ${this.stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${this.stderr}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#onOutput.delete(check);
        this.child.off('exit', check);
        settle();
      };
      this.#onOutput.add(check);
      this.child.once('exit', check);
      check();
    });
  }

  type(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

/**
 * `npm start` (embedded database) with `accounts login` typed in a second terminal: the command
 * runs in the CLI and takes each step through the server's control channel.
 */
describe('accounts login on the embedded database', () => {
  let dataDir: string;
  let upstream: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  let server: PoolerProcess;
  const interactive: InteractiveCli[] = [];
  const cli = (args: string[], input?: string) => runPooler(args, { env, ...(input === undefined ? {} : { input }) });
  const login = (args: string[]) => {
    const command = new InteractiveCli(['accounts', ...args], env);
    interactive.push(command);
    return command;
  };
  const accounts = async () => {
    const listed = await cli(['accounts', 'list', '--pool', 'team', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    return JSON.parse(listed.stdout) as Array<{ id: string; email: string; state: string }>;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cxp-login-embedded-'));
    upstream = await startFakeUpstream();
    upstream.setDeviceIntervalSec(1); // the CLI waits out the real interval between polls
    env = poolerEnv({ CODEX_POOLER_DATA_DIR: dataDir, PORT: '0', CODEX_POOLER_UPSTREAM_BASE_URL: upstream.url, CODEX_POOLER_AUTH_ISSUER: upstream.url });
    server = startPooler(['all'], env);
    await server.waitForListening(90_000);
    const pool = await cli(['pools', 'create', 'Team']);
    expect(pool.code, pool.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    for (const command of interactive) command.kill();
    await killAllPoolers();
    await upstream?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('browser: the link shows while the command waits, the pasted address links the account', async () => {
    await upstream.addAccount({ accountId: 'acct-browser', email: 'browser@example.com', planType: 'pro' });
    const command = login(['login', '--pool', 'team']);
    const [, authorizeUrl] = await command.waitForStderr(/^ {2}(http\S+\/oauth\/authorize\?\S+)$/m);
    await command.waitForStderr(/Paste that whole address here/);
    expect(command.running).toBe(true);
    command.type(upstream.approveAuthorization(authorizeUrl!, 'acct-browser'));
    expect(await command.exited, command.stderr).toBe(0);
    expect(command.stdout).toMatch(/^linked account [0-9a-f-]{36} \(browser@example\.com\) in pool team\nplan pro, state active, /);
    expect(await accounts()).toMatchObject([{ email: 'browser@example.com', state: 'active' }]);
    // The steps ran inside the server; the CLI never opened the database.
    const steps = server.logs().filter((line) => line.msg === 'operator command over the control channel').map((line) => line.command);
    expect(steps).toEqual(expect.arrayContaining(['accounts oauth-start', 'accounts oauth-complete']));
    expect(steps).not.toContain('accounts login');
  }, 60_000);

  test('device: the code shows while the command polls; approving it links the account', async () => {
    await upstream.addAccount({ accountId: 'acct-device', email: 'device@example.com', planType: 'plus' });
    const command = login(['login', '--pool', 'team', '--device', '--json']);
    const [, userCode] = await command.waitForStderr(/^ {2}([0-9A-F]{4}-[0-9A-F]{6})$/m);
    // Still waiting, and asking: at least one poll answered pending before the approval.
    await command.waitForStderr(/Waiting for approval \(expires [^)]+\)\./);
    expect(command.running).toBe(true);
    expect(command.stderr).toContain(`Open ${upstream.url}/codex/device`);
    upstream.approveDevice(userCode!, 'acct-device');
    expect(await command.exited, command.stderr).toBe(0);
    expect(command.stderr).toMatch(/ approved\n$/);
    expect(JSON.parse(command.stdout)).toMatchObject({ pool: 'team', email: 'device@example.com', plan: 'plus', state: 'active', created: true });
    expect((await accounts()).map((a) => a.email).sort()).toEqual(['browser@example.com', 'device@example.com']);
  }, 60_000);

  test('reauth by device code, and the failures: a wrong address, a denied code (exit 1, the reason)', async () => {
    const device = (await accounts()).find((a) => a.email === 'device@example.com')!;
    const reauth = login(['reauth', device.id, '--device']);
    const [, userCode] = await reauth.waitForStderr(/^ {2}([0-9A-F]{4}-[0-9A-F]{6})$/m);
    upstream.approveDevice(userCode!, 'acct-device');
    expect(await reauth.exited, reauth.stderr).toBe(0);
    expect(reauth.stdout).toMatch(new RegExp(`^re-authenticated account ${device.id} \\(device@example\\.com\\) in pool team\\n`));

    const wrong = login(['login', '--pool', 'team']);
    const [, authorizeUrl] = await wrong.waitForStderr(/^ {2}(http\S+\/oauth\/authorize\?\S+)$/m);
    wrong.type(upstream.approveAuthorization(authorizeUrl!, 'acct-browser').replace(/state=[^&]+/, 'state=not-this-one'));
    expect(await wrong.exited).toBe(1);
    expect(wrong.stderr).toMatch(/\ncodex-pooler: the callback address belongs to another sign-in \(state does not match\)\n$/);

    const denied = login(['login', '--pool', 'team', '--device']);
    const [, deniedCode] = await denied.waitForStderr(/^ {2}([0-9A-F]{4}-[0-9A-F]{6})$/m);
    upstream.denyDevice(deniedCode!);
    expect(await denied.exited).toBe(1);
    expect(denied.stderr).toMatch(/\ncodex-pooler: the device code was denied at ChatGPT\n$/);
    expect(denied.stdout).toBe('');
    expect(await accounts()).toHaveLength(2);
  }, 60_000);

  test('the steps answer JSON through the control channel; oauth-complete reads - from stdin', async () => {
    await upstream.addAccount({ accountId: 'acct-script', email: 'script@example.com', planType: 'pro' });
    const start = await cli(['accounts', 'oauth-start', '--pool', 'team', '--json']);
    expect(start.code, start.stderr).toBe(0);
    const started = JSON.parse(start.stdout) as { flow: { id: string }; authorize_url: string };
    const done = await cli(['accounts', 'oauth-complete', started.flow.id, '-', '--json'], `${upstream.approveAuthorization(started.authorize_url, 'acct-script')}\n`);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ status: 'completed', flow: { id: started.flow.id, status: 'completed' }, account: { email: 'script@example.com' } });
    const again = await cli(['accounts', 'oauth-poll', started.flow.id, '--json']);
    expect(again).toMatchObject({ code: 1, stdout: '', stderr: 'codex-pooler: this sign-in is a browser flow\n' });
  }, 60_000);

  test('with no server running, the CLI opens the embedded database itself and login works the same', async () => {
    expect(await server.stop('SIGTERM')).toBe(0);
    await upstream.addAccount({ accountId: 'acct-offline', email: 'offline@example.com', planType: 'pro' });
    const command = login(['login', '--pool', 'team', '--device']);
    const [, userCode] = await command.waitForStderr(/^ {2}([0-9A-F]{4}-[0-9A-F]{6})$/m, 60_000);
    expect(command.running).toBe(true);
    upstream.approveDevice(userCode!, 'acct-offline');
    expect(await command.exited, command.stderr).toBe(0);
    expect(command.stdout).toMatch(/^linked account [0-9a-f-]{36} \(offline@example\.com\) in pool team\n/);
    expect((await accounts()).map((a) => a.email)).toContain('offline@example.com');
  }, 90_000);
});
