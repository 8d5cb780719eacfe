import { readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { openDatabase } from '../db/index.ts';
import { buildApp } from '../http/app.ts';
import { DrainState } from '../http/drain.ts';
import { JOB_DEFINITIONS, startJobRunner } from '../jobs/index.ts';
import { createServices, type Services } from '../services.ts';
import { controlFilePath } from './control-file.ts';
import { startControlServer, type OperatorRequest, type OperatorResponse } from './control-server.ts';
import { CRON_OVERRIDES_VARIABLE, parseCronOverrides } from './cron-overrides.ts';
import { roleLogger } from './logging.ts';
import { migrateAndImportPricing } from './migrate.ts';
import { StopSignals } from './signals.ts';

export type RoleName = 'web' | 'worker' | 'scheduler' | 'all';

/**
 * What one process runs. `http: null` lets PHX_SERVER decide (the `start` command the chart and
 * the image use); `serve` and `all` always listen.
 */
export type RolePlan = { role: RoleName; http: boolean | null; migrate: boolean };

export type OperatorDepsOfServer = Pick<Services, 'db' | 'notifier' | 'accountDeps' | 'routing'>;

export type RoleOptions = {
  env: NodeJS.ProcessEnv;
  version: string;
  /** Runs an operator command line received on the control channel against this process's services. */
  runOperator(request: OperatorRequest, deps: OperatorDepsOfServer): Promise<OperatorResponse>;
};

/** In-flight HTTP requests get the drain budget that is left, within [1 s, 60 s]. */
const MIN_HTTP_GRACE_MS = 1_000;
const MAX_HTTP_GRACE_MS = 60_000;
/** Past every budget, a stuck shutdown still ends. */
const WATCHDOG_SLACK_MS = 30_000;

/** OBAN_MODE as the chart sets it; anything unknown is web (deployment spec B1). */
export function roleFromObanMode(raw: string | undefined): RoleName {
  const mode = (raw ?? '').trim().toLowerCase();
  return mode === 'worker' || mode === 'scheduler' || mode === 'all' ? mode : 'web';
}

const jobRoleOf = (role: RoleName) => ({ consume: role === 'worker' || role === 'all', schedule: role === 'scheduler' || role === 'all' });

function removeControlFileSync(dataDir: string): void {
  try {
    const current = JSON.parse(readFileSync(controlFilePath(dataDir), 'utf8')) as { pid?: unknown };
    if (current.pid === process.pid) rmSync(controlFilePath(dataDir), { force: true });
  } catch {
    // nothing of ours left
  }
}

/**
 * The shutdown drain: the listener stays open while in-flight requests (streams included) finish, so
 * /readyz keeps answering 503 and new gateway requests get a clean 503 instead of a refused
 * connection. Then the listener closes; what outlived the budget has its connection cut.
 */
async function closeHttp(app: FastifyInstance, drain: DrainState, graceMs: number, log: Logger): Promise<void> {
  if (drain.inFlight > 0) log.info({ in_flight: drain.inFlight, grace_ms: graceMs }, 'waiting for in-flight requests to finish');
  if (!(await drain.whenIdle(graceMs))) {
    log.warn({ grace_ms: graceMs, in_flight: drain.inFlight }, 'requests still running when the drain budget ran out; closing their connections');
    app.server.closeAllConnections();
  }
  await app.close();
}

type Step = { name: string; stop(): Promise<void> };

/**
 * Runs a role until SIGTERM/SIGINT, then shuts down in reverse start order: HTTP (draining, in-flight
 * requests finish within the drain budget), control channel, jobs (OBAN_SHUTDOWN_GRACE_PERIOD_MS),
 * services (flushes buffered writes), database. Answers the exit code. Startup failures are thrown
 * after whatever had started is stopped again.
 */
export async function runRole(plan: RolePlan, options: RoleOptions): Promise<number> {
  const { env } = options;
  if ((plan.role === 'worker' || plan.role === 'scheduler') && !env.DATABASE_URL?.trim()) {
    throw new ConfigError('DATABASE_URL', `is required by the ${plan.role} role: the embedded database admits one process, so run \`codex-pooler all\` instead`);
  }
  const log = roleLogger(env, plan.role);
  const cronOverrides = parseCronOverrides(env[CRON_OVERRIDES_VARIABLE], JOB_DEFINITIONS);

  const steps: Step[] = [];
  let controlDataDir: string | null = null;
  const signals = new StopSignals((signal) => {
    log.warn({ signal }, 'second signal: exiting without finishing the shutdown');
    if (controlDataDir) removeControlFileSync(controlDataDir);
  });
  const onUncaught = (error: Error) => {
    log.fatal({ err: error }, 'uncaught exception; shutting down');
    signals.request({ reason: 'uncaught exception', exitCode: 1 });
  };
  const onRejection = (reason: unknown) => log.error({ err: reason }, 'unhandled promise rejection');
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);

  const stopAll = async (): Promise<boolean> => {
    let clean = true;
    for (let step = steps.pop(); step; step = steps.pop()) {
      try {
        await step.stop();
      } catch (error) {
        clean = false;
        log.error({ err: error, step: step.name }, 'shutdown step failed');
      }
    }
    return clean;
  };

  try {
    let config: Config;
    const drain = { state: null as DrainState | null, startedAt: null as number | null };
    const startDrain = (reason: string) => {
      if (drain.startedAt === null) {
        drain.startedAt = Date.now();
        log.info({ reason }, 'draining: /readyz answers 503 from now on');
      }
      drain.state?.start();
    };
    const httpGraceMs = () => {
      const spent = drain.startedAt === null ? 0 : Date.now() - drain.startedAt;
      return Math.min(MAX_HTTP_GRACE_MS, Math.max(MIN_HTTP_GRACE_MS, config.drainTimeoutMs - spent));
    };

    try {
      config = await loadConfig(env, (message) => log.info(message));
      const http = plan.http ?? config.phxServer;
      const jobRole = jobRoleOf(plan.role);
      log.info({ version: options.version, http, jobs: jobRole, database: config.database.kind }, `starting the ${plan.role} role`);
      if (!http && plan.http === null && (plan.role === 'web' || plan.role === 'all')) {
        log.warn({ OBAN_MODE: env.OBAN_MODE ?? '', PHX_SERVER: env.PHX_SERVER ?? '' }, 'PHX_SERVER is not true/1: no HTTP listener (use `codex-pooler serve` or `all`, or set PHX_SERVER=true)');
      }
      if (config.database.kind === 'embedded' && plan.role === 'web') {
        log.warn('embedded database: no worker or scheduler can run beside this process, so background jobs will not run; use `codex-pooler all`');
      }

      const handle = await openDatabase(config.database, { onError: (error) => log.error({ err: error }, 'database connection error') });
      steps.push({ name: 'database', stop: () => handle.close() });
      if (plan.migrate) await migrateAndImportPricing(handle.db, log);

      const services = createServices(config, handle, log);
      steps.push({ name: 'services', stop: () => services.close() });
      drain.state = new DrainState(config.drainMarkerPath);

      const jobs = await startJobRunner({
        db: handle.db,
        jobDatabase: handle.jobDatabase,
        embedded: handle.kind === 'embedded',
        role: jobRole,
        definitions: JOB_DEFINITIONS,
        log: log.child({ component: 'jobs' }),
        queueLimit: config.jobsQueueLimit,
        credentials: services.credentials,
        accountDeps: services.accountDeps,
        onOutcome: (job, outcome, seconds) => {
          services.metrics.jobOutcomeCount.inc({ job, outcome });
          services.metrics.jobDuration.observe({ job }, seconds);
        },
        ...(cronOverrides ? { cronOverrides } : {}),
      });
      steps.push({ name: 'jobs', stop: () => jobs.stop(config.shutdownGraceMs) });

      if (plan.role === 'web' || plan.role === 'all') {
        const deps: OperatorDepsOfServer = { db: services.db, notifier: services.notifier, accountDeps: services.accountDeps, routing: services.routing };
        const drainState = drain.state;
        const control = await startControlServer({
          dataDir: config.dataDir,
          role: plan.role,
          log: log.child({ component: 'control' }),
          handlers: {
            runOperator: (request) => options.runOperator(request, deps),
            drain: () => {
              const already = drainState.draining;
              startDrain('drain requested on the control channel');
              return { pid: process.pid, draining: true, already_draining: already };
            },
          },
        }).catch((error: unknown) => {
          // On PostgreSQL the channel only serves `drain` (the marker file still works): a read-only
          // data directory must not keep a web pod from starting. Embedded mode needs it.
          if (handle.kind === 'embedded') throw error;
          log.warn({ err: error, path: config.dataDir }, 'control channel not started (is the data directory writable?); `codex-pooler drain` will not find this process');
          return null;
        });
        if (control) {
          controlDataDir = config.dataDir;
          steps.push({ name: 'control channel', stop: () => control.close() });
        }
      }

      if (http) {
        await services.listen();
        const app = await buildApp({ services, drain: drain.state, version: options.version });
        const drainState = drain.state;
        steps.push({ name: 'http', stop: () => closeHttp(app, drainState, httpGraceMs(), log) });
        await app.listen({ host: config.bindHost, port: config.port });
        const { port } = app.server.address() as AddressInfo;
        log.info({ host: config.bindHost, port, url: `http://localhost:${port}` }, 'listening');
      }
      log.info(`${plan.role} role started`);
    } catch (error) {
      await stopAll();
      throw error;
    }

    const stop = await signals.requested;
    log.info({ reason: stop.reason }, 'shutting down');
    startDrain(stop.reason);
    const watchdogMs = httpGraceMs() + config.shutdownGraceMs + WATCHDOG_SLACK_MS;
    const watchdog = setTimeout(() => {
      log.error({ after_ms: watchdogMs }, 'shutdown did not finish in time; exiting');
      if (controlDataDir) removeControlFileSync(controlDataDir);
      process.exit(1);
    }, watchdogMs);
    watchdog.unref();
    const clean = await stopAll();
    clearTimeout(watchdog);
    log.info({ clean }, 'stopped');
    return clean ? stop.exitCode : 1;
  } finally {
    signals.dispose();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
  }
}
