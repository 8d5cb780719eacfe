/**
 * Benchmark child: the real gateway (config, PostgreSQL, services, Fastify app) in its own process,
 * assembled the way test/support/gateway.ts does it, pointed at the fake upstream child.
 *
 *   BENCH_DATABASE_URL=postgres://… BENCH_UPSTREAM_URL=http://127.0.0.1:… BENCH_AUTH_JSON='[…]' node bench/gateway-server.ts
 *
 * Migrates the (scratch) database, imports the accounts into one pool, mints a Pool API key, listens
 * on 127.0.0.1 and prints `{"type":"ready","url":…,"key":…,"extraKeys":[…]}` (BENCH_EXTRA_KEYS more
 * keys in the same pool, for the routing figures: demotion after a failure is per key). Control ops:
 * `mem`, `loop-delay`, `probes` (lookups on the request path that waited for PostgreSQL), `stats`
 * (request-log rows), `routing-log` (request-log rows by routing reason and attempt count);
 * closing stdin flushes the async writers and stops it. BENCH_EXPERIMENTS takes the switches below.
 */
import { Agent } from 'undici';
import { cliActor } from '../src/audit/index.ts';
import { mintApiKey } from '../src/api-keys/index.ts';
import { parseConfig, type Config } from '../src/config/index.ts';
import { migrateToLatest, openDatabase } from '../src/db/index.ts';
import { buildApp } from '../src/http/app.ts';
import { DrainState } from '../src/http/drain.ts';
import { createLogger } from '../src/http/logger.ts';
import { createPool } from '../src/pools/index.ts';
import { createServices, type Services } from '../src/services.ts';
import { importAuthJson } from '../src/upstreams/index.ts';
import { TEST_SECRETS } from '../test/support/gateway.ts';
import { loopDelaySample, processSample, send, serveControl } from './control.ts';

/**
 * Diagnostic switches (off by default) that change one thing in the assembled gateway, to measure
 * what that part of the request path costs. They patch this process's service objects only.
 *   upstream-connections=N  the upstream Agent allows N sockets per origin instead of the built-in cap
 *   no-request-log          request and attempt rows are not written
 */
function applyExperiments(services: Services, spec: string): string[] {
  const applied: string[] = [];
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=');
    if (name === 'upstream-connections') {
      const original = services.dispatcher;
      services.dispatcher = createUpstreamAgentWith(services.config.upstreamTimeouts, Number(value));
      void original.close();
    } else if (name === 'no-request-log') {
      services.requestLog.write = () => {};
    } else {
      throw new Error(`unknown experiment ${item}`);
    }
    applied.push(item);
  }
  return applied;
}

function createUpstreamAgentWith(timeouts: Config['upstreamTimeouts'], connections: number): Agent {
  if (!Number.isInteger(connections) || connections < 1) throw new Error('upstream-connections needs a positive integer');
  return new Agent({
    connect: { timeout: timeouts.connectMs },
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections,
    headersTimeout: timeouts.firstByteMs,
    bodyTimeout: timeouts.idleMs,
  });
}

type ProbeStats = { calls: number; slow: number; slowMs: number; maxMs: number };

/**
 * Times the gateway's in-memory lookups on the request path (key, routing snapshot, model catalog,
 * access token). Served from cache they take microseconds; a call slower than SLOW_MS waited for
 * PostgreSQL (a cache miss or a reload). Wraps the methods on this process's service objects.
 */
const SLOW_MS = 0.5;
function installProbes(services: Services): () => Record<string, ProbeStats> {
  const stats: Record<string, ProbeStats> = {};
  const wrap = <T extends object>(target: T, method: keyof T & string, name: string) => {
    const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
    const entry: ProbeStats = { calls: 0, slow: 0, slowMs: 0, maxMs: 0 };
    stats[name] = entry;
    (target as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await original(...args);
      } finally {
        const elapsed = performance.now() - started;
        entry.calls++;
        if (elapsed > SLOW_MS) {
          entry.slow++;
          entry.slowMs += elapsed;
        }
        entry.maxMs = Math.max(entry.maxMs, elapsed);
      }
    };
  };
  wrap(services.apiKeys, 'authenticate', 'apiKeys.authenticate');
  wrap(services.routing, 'candidates', 'routing.candidates');
  wrap(services.routing, 'catalog', 'routing.catalog');
  wrap(services.credentials, 'accessTokenFor', 'credentials.accessTokenFor');
  return () => {
    const snapshot = structuredClone(stats);
    for (const entry of Object.values(stats)) Object.assign(entry, { calls: 0, slow: 0, slowMs: 0, maxMs: 0 });
    return snapshot;
  };
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

try {
  const databaseUrl = required('BENCH_DATABASE_URL');
  const upstreamUrl = required('BENCH_UPSTREAM_URL');
  const authJsons = JSON.parse(required('BENCH_AUTH_JSON')) as unknown[];

  // Gateway settings from the driver's environment (e.g. CODEX_POOLER_ADMISSION_LIMITS) apply too,
  // except the ones this harness owns.
  const owned = new Set(['CODEX_POOLER_UPSTREAM_BASE_URL', 'CODEX_POOLER_AUTH_ISSUER', 'CODEX_POOLER_TEST_ADMIN_URL']);
  const passthrough = Object.fromEntries(Object.entries(process.env).filter(([name, value]) => name.startsWith('CODEX_POOLER_') && !owned.has(name) && value !== undefined)) as Record<string, string>;
  const config = parseConfig({
    ...TEST_SECRETS,
    ...passthrough,
    DATABASE_URL: databaseUrl,
    POOL_SIZE: process.env.BENCH_POOL_SIZE ?? '10',
    CODEX_POOLER_UPSTREAM_BASE_URL: upstreamUrl,
    CODEX_POOLER_AUTH_ISSUER: upstreamUrl,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
  });
  const log = createLogger({ level: config.logLevel });
  const handle = await openDatabase(config.database, { onError: () => {} });
  await migrateToLatest(handle.db);
  const services = createServices(config, handle, log);
  const experiments = applyExperiments(services, process.env.BENCH_EXPERIMENTS ?? '');
  const probes = installProbes(services);
  await services.listen();
  const drain = new DrainState(null);
  const app = await buildApp({ services, drain, version: 'bench' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const pool = await createPool(services.db, cliActor(), { name: 'bench' });
  for (const authJson of authJsons) {
    await importAuthJson(services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(authJson) });
  }
  const { key } = await mintApiKey({ db: services.db, notifier: services.notifier }, cliActor(), { pool: pool.slug, label: 'bench' });
  const extraKeys: string[] = [];
  for (let i = 0; i < Number(process.env.BENCH_EXTRA_KEYS ?? 0); i++) {
    extraKeys.push((await mintApiKey({ db: services.db, notifier: services.notifier }, cliActor(), { pool: pool.slug, label: `bench-routing-${i}` })).key);
  }

  serveControl(
    {
      mem: (request) => processSample(request),
      'loop-delay': () => loopDelaySample(),
      probes: () => probes(),
      // What the gateway recorded: proves the async request-log path kept up and nothing was lost.
      stats: async () => {
        await services.requestLog.flush();
        const rows = await services.db
          .selectFrom('requests')
          .select(['endpoint', 'status', 'last_error_code'])
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .groupBy(['endpoint', 'status', 'last_error_code'])
          .execute();
        const requests: Record<string, number> = {};
        for (const row of rows) requests[`${row.endpoint} ${row.status}${row.last_error_code ? ` (${row.last_error_code})` : ''}`] = Number(row.count);
        return { pendingLogs: services.requestLog.pending, requests };
      },
      // Why requests went where they went: failovers and affinity moves, as the gateway logged them.
      'routing-log': async () => {
        await services.requestLog.flush();
        const rows = await services.db
          .selectFrom('requests')
          .select(['routing_reason', 'retry_count', 'status'])
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .groupBy(['routing_reason', 'retry_count', 'status'])
          .execute();
        const reasons: Record<string, number> = {};
        for (const row of rows) reasons[`${row.routing_reason ?? '(none)'}, ${row.retry_count} retries, ${row.status}`] = Number(row.count);
        return { reasons };
      },
    },
    async () => {
      await app.close();
      await services.close();
      await handle.close();
    },
  );
  send({ type: 'ready', url: `http://127.0.0.1:${port}`, key, extraKeys, pid: process.pid, accounts: authJsons.length, experiments, gatewayEnv: passthrough });
} catch (error) {
  send({ type: 'fatal', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
