import { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { Db, JobDatabase } from '../db/index.ts';
import type { AccountDeps, CredentialStore } from '../upstreams/index.ts';
import type { JobDefinition } from './definitions.ts';

/** What this process does with jobs: web only enqueues, worker consumes, scheduler owns cron. */
export type JobRole = { consume: boolean; schedule: boolean };

export type JobRunnerOptions = {
  db: Db;
  jobDatabase: JobDatabase | { connectionString: string };
  embedded: boolean;
  role: JobRole;
  definitions: readonly JobDefinition[];
  log: Logger;
  queueLimit: number;
  /** Replaces a job's cron (tests use a seconds-level rrule). */
  cronOverrides?: Record<string, string>;
  now?: () => Date;
  credentials?: CredentialStore | null;
  accountDeps?: AccountDeps | null;
  /** Told how each run ended (the job outcome metrics); a failed run is then retried by pg-boss. */
  onOutcome?: (job: string, outcome: 'succeeded' | 'failed', seconds: number) => void;
};

export type JobRunner = {
  enqueue(name: string, data?: Record<string, unknown>): Promise<string | null>;
  stop(graceMs: number): Promise<void>;
};

export async function startJobRunner(options: JobRunnerOptions): Promise<JobRunner> {
  const { role, log } = options;
  const connection = 'connectionString' in options.jobDatabase ? { connectionString: options.jobDatabase.connectionString, max: 4 } : { db: options.jobDatabase };
  const boss = new PgBoss({
    ...connection,
    ...(options.embedded ? { backend: 'pglite' as const } : {}),
    schema: 'pgboss',
    // Only the scheduler (or `all`) runs cron and maintenance: rescuing orphaned jobs, pruning.
    schedule: role.schedule,
    supervise: role.schedule,
    ...(role.schedule ? { cronWorkerIntervalSeconds: 5 } : {}),
  } as ConstructorParameters<typeof PgBoss>[0]);
  boss.on('error', (error: Error) => log.error({ err: error }, 'job queue error'));
  await boss.start();

  for (const definition of options.definitions) {
    await boss.createQueue(definition.name, { expireInSeconds: definition.expireInSeconds, retryLimit: definition.retryLimit, retentionSeconds: 86_400 });
  }
  if (role.schedule) {
    for (const definition of options.definitions) {
      const cron = options.cronOverrides?.[definition.name] ?? definition.cron;
      if (cron) await boss.schedule(definition.name, cron, {}, { tz: 'UTC' });
    }
  }
  if (role.consume) {
    const context = { db: options.db, log, now: options.now ?? (() => new Date()), credentials: options.credentials ?? null, accountDeps: options.accountDeps ?? null };
    for (const definition of options.definitions) {
      await boss.work(definition.name, { batchSize: 1, localConcurrency: Math.max(1, Math.min(options.queueLimit, 4)), pollingIntervalSeconds: 2 }, async (jobs) => {
        const results = [];
        for (const job of jobs) {
          log.info({ job: definition.name, id: job.id }, 'job started');
          const started = performance.now();
          try {
            results.push(await definition.run(context, (job.data ?? {}) as Record<string, unknown>));
          } catch (error) {
            options.onOutcome?.(definition.name, 'failed', (performance.now() - started) / 1000);
            throw error;
          }
          options.onOutcome?.(definition.name, 'succeeded', (performance.now() - started) / 1000);
        }
        return results[0];
      });
    }
  }

  return {
    async enqueue(name, data = {}) {
      return boss.send(name, data);
    },
    async stop(graceMs) {
      await boss.stop({ graceful: true, timeout: Math.max(graceMs, 1000), close: true });
    },
  };
}
