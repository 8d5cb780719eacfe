import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startJobRunner } from '../../src/jobs/index.ts';
import type { JobDefinition } from '../../src/jobs/definitions.ts';
import { openDatabase } from '../../src/db/index.ts';
import { createLogger } from '../../src/http/logger.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { getJson, killAllPoolers, poolerEnv, runPooler, startPooler, testSecrets } from '../support/processes.ts';

/**
 * The web role's graceful drain as Kubernetes drives it, against real processes on PostgreSQL:
 * SIGTERM (or the preStop hook's `codex-pooler drain`) turns readiness to 503 at once and refuses new
 * gateway requests, while a slow stream already running finishes with its final event; the process
 * then flushes its request log and exits 0.
 */
describe('web role drain', () => {
  let database: ScratchDatabase;
  let dataDir: string;
  let upstream: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  let rawKey: string;
  const cli = (args: string[], input?: string) => runPooler(args, { env, ...(input === undefined ? {} : { input }) });

  beforeAll(async () => {
    database = await createScratchDatabase('drain');
    dataDir = await mkdtemp(join(tmpdir(), 'cxp-drain-'));
    upstream = await startFakeUpstream();
    env = poolerEnv({
      DATABASE_URL: database.url,
      ...testSecrets(),
      PORT: '0',
      POOL_SIZE: '3',
      CODEX_POOLER_DATA_DIR: dataDir,
      CODEX_POOLER_UPSTREAM_BASE_URL: upstream.url,
      CODEX_POOLER_AUTH_ISSUER: upstream.url,
      CODEX_POOLER_WEBSOCKET_DRAIN_TIMEOUT_MS: '60000',
      // The chart's app Deployment: a bare start whose role comes from the environment.
      OBAN_MODE: 'web',
      PHX_SERVER: 'true',
    });
    const migrated = await cli(['migrate']);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect((await cli(['pools', 'create', 'Drain Team'])).code).toBe(0);
    const account = await upstream.addAccount({ accountId: 'acct-drain-1', email: 'drain@example.com' });
    const imported = await cli(['accounts', 'import', '--pool', 'drain-team', '-'], JSON.stringify(account.authJson));
    expect(imported.code, imported.stderr).toBe(0);
    const key = await cli(['keys', 'create', '--pool', 'drain-team', '--label', 'drain']);
    expect(key.code, key.stderr).toBe(0);
    rawKey = key.stdout.trimEnd().split('\n').at(-1)!;
  }, 120_000);

  afterAll(async () => {
    await killAllPoolers();
    await upstream?.close();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const responsesRequest = (port: number) =>
    fetch(`http://127.0.0.1:${port}/backend-api/codex/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rawKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true }),
    });

  /** Request log rows of streams (the refused requests never reach routing, so they have none). */
  async function streamRows() {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ status: string; response_status_code: number }>(
        "select status, response_status_code from requests where transport = 'http_sse' order by admitted_at",
      );
      return rows;
    } finally {
      await client.end();
    }
  }

  /**
   * Opens a slow stream, starts the drain with `begin`, then checks what a load balancer and a
   * client see while the stream is still running.
   */
  async function drainDuringStream(port: number, begin: () => Promise<void>, then: () => void = () => {}) {
    upstream.setEventDelayMs(400);
    const stream = await responsesRequest(port);
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const first = await reader.read();
    text += decoder.decode(first.value, { stream: true });
    expect(text).not.toContain('response.completed');

    await begin();
    // Still listening: the probe is answered (not refused at the socket), and says unready.
    expect(await getJson(`http://127.0.0.1:${port}/readyz`)).toEqual({ status: 503, body: { status: 'unavailable' } });
    expect((await getJson(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const refused = await responsesRequest(port);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('connection')).toBe('close');
    expect(await refused.json()).toEqual({
      error: { message: 'this gateway replica is draining for shutdown; retry the request', type: 'server_error', code: 'service_unavailable', param: null },
    });

    then();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    upstream.setEventDelayMs(0);
    expect(text).toContain('event: response.completed');
    return text;
  }

  test('SIGTERM: /readyz 503 and new requests refused at once; the in-flight stream completes; exit 0 with the request logged', async () => {
    const server = startPooler(['start'], env);
    const port = await server.waitForListening(60_000);
    expect(await getJson(`http://127.0.0.1:${port}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } });
    const before = upstream.requests.length;
    const logged = (await streamRows()).length;

    let exited: Promise<number | null> = Promise.resolve(null);
    await drainDuringStream(port, async () => {
      exited = server.stop('SIGTERM', 60_000);
      await server.waitForLog((l) => l.msg === 'waiting for in-flight requests to finish', 10_000, 'the shutdown drain');
    });
    expect(await exited).toBe(0);
    expect(server.logs().some((l) => l.msg === 'stopped' && l.clean === true)).toBe(true);
    expect(server.logs().some((l) => l.msg === 'requests still running when the drain budget ran out; closing their connections')).toBe(false);
    // The refused request never reached the upstream: one upstream call, the stream's.
    expect(upstream.requests.length - before).toBe(1);
    // Written by the buffered request log writer, flushed on the way out.
    expect((await streamRows()).slice(logged)).toEqual([{ status: 'succeeded', response_status_code: 200 }]);
    expect((await cli(['drain'])).stdout).toMatch(/no running codex-pooler server found/);
  }, 120_000);

  test('`codex-pooler drain` (the preStop hook): same refusal while the stream runs; the later SIGTERM lets it finish and exits 0', async () => {
    const server = startPooler(['start'], env);
    const port = await server.waitForListening(60_000);
    const logged = (await streamRows()).length;

    let exited: Promise<number | null> = Promise.resolve(null);
    await drainDuringStream(
      port,
      async () => {
        const drained = await cli(['drain']);
        expect(drained.code, drained.stderr).toBe(0);
        expect(drained.stdout).toMatch(new RegExp(`^draining: process ${server.pid} now answers /readyz with 503`));
      },
      // The kubelet sends SIGTERM after preStop; the stream is still running then.
      () => {
        expect(server.logs().some((l) => l.msg === 'shutting down')).toBe(false);
        exited = server.stop('SIGTERM', 60_000);
      },
    );
    expect(await exited).toBe(0);
    expect(server.logs().some((l) => l.msg === 'draining: /readyz answers 503 from now on' && l.reason === 'drain requested on the control channel')).toBe(true);
    expect((await streamRows()).slice(logged)).toEqual([{ status: 'succeeded', response_status_code: 200 }]);
  }, 120_000);
});

describe('worker drain', () => {
  let database: ScratchDatabase;

  beforeAll(async () => {
    database = await createScratchDatabase('jobdrain');
  });
  afterAll(async () => {
    await database?.drop();
  });

  test('stopping the job runner lets a running job finish and records it completed', async () => {
    const handle = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, ipv6: false }, { onError: () => {} });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let finished = false;
    const slow: JobDefinition = {
      name: 'drain-test-slow-job',
      expireInSeconds: 300,
      retryLimit: 2,
      async run() {
        started();
        await gate;
        finished = true;
        return { ok: true };
      },
    };
    const runner = await startJobRunner({
      db: handle.db,
      jobDatabase: { connectionString: database.url },
      embedded: false,
      role: { consume: true, schedule: false },
      definitions: [slow],
      log: createLogger({ level: 'silent' }),
      queueLimit: 1,
    });
    try {
      const id = await runner.enqueue('drain-test-slow-job');
      await running;
      let stopped = false;
      const stopping = runner.stop(30_000).then(() => (stopped = true));
      // The stop waits for the running job instead of abandoning it.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stopped).toBe(false);
      release();
      await stopping;
      expect(finished).toBe(true);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query('select state from pgboss.job where id = $1', [id]);
        expect(rows).toEqual([{ state: 'completed' }]);
      } finally {
        await client.end();
      }
    } finally {
      await handle.close();
    }
  }, 60_000);
});
