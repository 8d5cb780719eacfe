import type { Db } from '../db/index.ts';
import type { Logger } from 'pino';
import type { AccountDeps, CredentialStore } from '../upstreams/index.ts';

/** What jobs may use; the credential store exists only where the process built its services. */
export type JobContext = { db: Db; log: Logger; now: () => Date; credentials: CredentialStore | null; accountDeps: AccountDeps | null };

export type JobDefinition = {
  /** Queue name; pg-boss queues are created on start. */
  name: string;
  /** Cron (UTC) the scheduler registers; absent for jobs only enqueued on demand. */
  cron?: string;
  expireInSeconds: number;
  retryLimit: number;
  run(context: JobContext, data: Record<string, unknown>): Promise<Record<string, unknown> | void>;
};
