import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, killAllPoolers, poolerEnv, runPooler, testSecrets, REPO_ROOT } from '../support/processes.ts';

// Config checks fail before any connection is attempted, so the URL need not reach a server.
const UNREACHABLE_DATABASE = 'postgres://postgres@127.0.0.1:1/codex_pooler_nowhere';

let scratchDir: string;

beforeAll(async () => {
  scratchDir = await mkdtemp(join(tmpdir(), 'cxp-cli-'));
});

afterAll(async () => {
  await killAllPoolers();
  await rm(scratchDir, { recursive: true, force: true });
});

const stderrLines = (stderr: string) => stderr.split('\n').filter((line) => line !== '');

// Sequential on purpose: a burst of concurrent node processes starves the other test files.
describe('codex-pooler command line', () => {
  test('--help lists the roles and operator commands, exit 0', async () => {
    const result = await runPooler(['--help'], { env: poolerEnv() });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: codex-pooler/);
    for (const command of ['serve', 'worker', 'scheduler', 'migrate', 'all', 'start', 'drain', 'pools', 'accounts', 'keys', 'operators']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(result.stderr).toBe('');
  });

  test('--version prints the package version, exit 0', async () => {
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await runPooler(['--version'], { env: poolerEnv() });
    expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  test('help of an operator command group, exit 0', async () => {
    const result = await runPooler(['keys', 'create', '--help'], { env: poolerEnv() });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: codex-pooler keys create');
    expect(result.stdout).toContain('--pool <pool>');
  });

  test('a reader that closes the pipe early (| head) ends the output quietly, exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'accounts', '--help'], { env: poolerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });

  test.each([
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown flag on a role', ['serve', '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unknown flag on an operator command', ['pools', 'list', '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unknown subcommand', ['keys', 'mint'], /unknown command 'mint'/],
    ['a missing argument', ['pools', 'create'], /missing required argument 'name'/],
  ])('%s prints usage on stderr, exit 2', async (_name, args, message) => {
    const result = await runPooler(args, { env: poolerEnv() });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('Usage: codex-pooler');
  });

  const secrets = testSecrets();
  // Each case through a different entry: a role, the migrations role and an operator command.
  test.each([
    ['SECRET_KEY_BASE is missing', ['serve'], { SECRET_KEY_BASE: undefined }, 'SECRET_KEY_BASE'],
    ['SECRET_KEY_BASE is too short', ['migrate'], { SECRET_KEY_BASE: 'too-short' }, 'SECRET_KEY_BASE'],
    ['the upstream key is malformed', ['pools', 'list'], { CODEX_POOLER_UPSTREAM_SECRET_KEY: 'not-32-bytes' }, 'CODEX_POOLER_UPSTREAM_SECRET_KEY'],
    ['the upstream key is malformed', ['serve'], { CODEX_POOLER_UPSTREAM_SECRET_KEY: 'bm90LTMyLWJ5dGVz' }, 'CODEX_POOLER_UPSTREAM_SECRET_KEY'],
    ['PORT is not a number', ['all'], { PORT: 'http' }, 'PORT'],
  ])('config error (%s, `%s`): one stderr line naming the variable, exit 1', async (_name, args, overrides, variable) => {
    const result = await runPooler(args, { env: poolerEnv({ DATABASE_URL: UNREACHABLE_DATABASE, ...secrets, ...overrides }) });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = stderrLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^codex-pooler: ${variable}: \\S`));
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('a malformed CODEX_POOLER_CRON_OVERRIDES is a config error', async () => {
    const env = poolerEnv({ DATABASE_URL: UNREACHABLE_DATABASE, ...secrets, CODEX_POOLER_CRON_OVERRIDES: '{"no-such-job":"* * * * *"}' });
    const result = await runPooler(['scheduler'], { env });
    expect(result.code).toBe(1);
    expect(stderrLines(result.stderr)).toEqual([expect.stringMatching(/^codex-pooler: CODEX_POOLER_CRON_OVERRIDES: unknown job "no-such-job"/)]);
  });

  test.each([
    ['worker', ['worker'], {}],
    ['scheduler', ['scheduler'], {}],
    ['start with OBAN_MODE=worker', ['start'], { OBAN_MODE: 'worker' }],
  ])('%s on the embedded database exits 1 asking for DATABASE_URL, touching nothing', async (name, args, extra) => {
    const dataDir = join(scratchDir, `embedded-${name.replace(/\W+/g, '-')}`);
    const result = await runPooler(args, { env: poolerEnv({ CODEX_POOLER_DATA_DIR: dataDir, ...extra }) });
    expect(result.code).toBe(1);
    expect(stderrLines(result.stderr)).toEqual([expect.stringMatching(/^codex-pooler: DATABASE_URL: is required by the (worker|scheduler) role/)]);
    await expect(readdir(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('drain with no server running is a note, exit 0', async () => {
    const result = await runPooler(['drain'], { env: poolerEnv({ CODEX_POOLER_DATA_DIR: join(scratchDir, 'nothing-runs') }) });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/no running codex-pooler server found/);
  });
});
