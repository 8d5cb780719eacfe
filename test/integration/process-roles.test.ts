import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { getJson, killAllPoolers, listeningPorts, poolerEnv, runPooler, startPooler, testSecrets, type PoolerProcess } from '../support/processes.ts';

/**
 * The three PostgreSQL roles as separate processes on one database, the way the chart runs them:
 * web serves HTTP and only enqueues, the scheduler owns cron, the worker runs the jobs.
 */
describe('serve, worker and scheduler on one PostgreSQL database', () => {
  let database: ScratchDatabase;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let web: PoolerProcess;
  let webPort: number;
  let worker: PoolerProcess;
  let scheduler: PoolerProcess;

  const JOB_DONE = (line: Record<string, unknown>) => line.msg === 'pruned expired sessions' && line.job === 'prune-expired-sessions';

  beforeAll(async () => {
    database = await createScratchDatabase('roles');
    dataDir = await mkdtemp(join(tmpdir(), 'cxp-roles-'));
    env = poolerEnv({
      DATABASE_URL: database.url,
      ...testSecrets(),
      PORT: '0',
      CODEX_POOLER_DATA_DIR: dataDir,
      POOL_SIZE: '3',
      // Every 5 seconds instead of every 15 minutes: pg-boss takes RRULEs as well as cron.
      CODEX_POOLER_CRON_OVERRIDES: JSON.stringify({ 'prune-expired-sessions': 'FREQ=SECONDLY;INTERVAL=5' }),
    });
  });

  afterAll(async () => {
    await killAllPoolers();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serve and scheduler start on an unmigrated database; /readyz answers 503', async () => {
    web = startPooler(['serve'], env);
    // Started early: pg-boss runs a cron pass every 30 s, so the first due occurrence comes sooner.
    // PHX_SERVER does not turn a scheduler (or worker) into a web server.
    scheduler = startPooler(['scheduler'], { ...env, PHX_SERVER: 'true' });
    webPort = await web.waitForListening();
    await scheduler.waitForLog((l) => l.msg === 'scheduler role started', 60_000, 'scheduler start');
    expect(await getJson(`http://127.0.0.1:${webPort}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await getJson(`http://127.0.0.1:${webPort}/readyz`)).toEqual({ status: 503, body: { status: 'unavailable' } });
  }, 90_000);

  test('migrate applies the schema and imports pricing; a second run changes nothing', async () => {
    const first = await runPooler(['migrate'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^migrations: [1-9]\d* applied/m);
    expect(first.stdout).toMatch(/^pricing: [1-9]\d* inserted, 0 updated, 0 unchanged/m);

    const second = await runPooler(['migrate'], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^migrations: 0 applied/m);
    expect(second.stdout).toMatch(/^pricing: 0 inserted, 0 updated, [1-9]\d* unchanged/m);

    expect(await getJson(`http://127.0.0.1:${webPort}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } });
  }, 120_000);

  test('worker and scheduler open no HTTP port; the scheduled job runs on the worker only', async () => {
    worker = startPooler(['worker'], { ...env, PHX_SERVER: 'true' });
    await worker.waitForLog((l) => l.msg === 'worker role started', 60_000, 'worker start');
    expect(listeningPorts(worker.pid)).toEqual([]);
    expect(listeningPorts(scheduler.pid)).toEqual([]);
    expect(listeningPorts(web.pid)).toContain(webPort);

    await worker.waitForLog(JOB_DONE, 75_000, 'a prune-expired-sessions run on the worker');
    expect(worker.logs().some((l) => l.msg === 'listening')).toBe(false);
    expect(scheduler.logs().some((l) => l.msg === 'listening')).toBe(false);
    expect(web.logs().filter(JOB_DONE)).toEqual([]);
    expect(scheduler.logs().filter(JOB_DONE)).toEqual([]);
  }, 150_000);

  test('drain turns /readyz to 503 while /healthz stays 200; SIGTERM then exits 0', async () => {
    const drained = await runPooler(['drain'], { env });
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toMatch(new RegExp(`draining: process ${web.pid}`));
    expect(await getJson(`http://127.0.0.1:${webPort}/readyz`)).toEqual({ status: 503, body: { status: 'unavailable' } });
    expect((await getJson(`http://127.0.0.1:${webPort}/healthz`)).status).toBe(200);

    const codes = await Promise.all([web.stop('SIGTERM'), worker.stop('SIGTERM'), scheduler.stop('SIGTERM')]);
    expect(codes).toEqual([0, 0, 0]);
    for (const process of [web, worker, scheduler]) expect(process.logs().some((l) => l.msg === 'stopped' && l.clean === true)).toBe(true);
    expect((await runPooler(['drain'], { env })).stdout).toMatch(/no running codex-pooler server found/);
  }, 90_000);
});
