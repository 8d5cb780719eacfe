import { mkdir } from 'node:fs/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/index.ts';
import type { Database, Db } from './database.ts';
import { acquireEmbeddedLock } from './embedded-lock.ts';
import { EmbeddedSession } from './embedded-pool.ts';
import { createLocalNotifier, createPostgresNotifier, type Notifier } from './notifier.ts';

/** What pg-boss needs from the database. */
export interface JobDatabase {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export type DatabaseHandle = {
  kind: 'postgres' | 'embedded';
  db: Db;
  notifier: Notifier;
  /** pg-boss connection: its own pool on PostgreSQL, the shared session when embedded. */
  jobDatabase: JobDatabase | { connectionString: string };
  close(): Promise<void>;
};

function pgTypes(): pg.CustomTypesConfig {
  // int8 counters fit in a double; returning numbers keeps both drivers' rows identical.
  return {
    getTypeParser: ((oid: number, format?: string) =>
      oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
  };
}

export async function openDatabase(config: DatabaseConfig, options: { onError: (error: Error) => void }): Promise<DatabaseHandle> {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.url, max: config.poolSize, types: pgTypes(), connectionTimeoutMillis: 10_000 });
    pool.on('error', options.onError);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const notifier = createPostgresNotifier(pool, config.url, options.onError);
    return {
      kind: 'postgres',
      db,
      notifier,
      jobDatabase: { connectionString: config.url },
      async close() {
        await notifier.close();
        await db.destroy();
      },
    };
  }

  const dataDir = config.directory.replace(/\/pgdata$/, '');
  await mkdir(config.directory, { recursive: true, mode: 0o700 });
  const releaseLock = await acquireEmbeddedLock(dataDir);
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const pglite = await PGlite.create(config.directory);
    const session = new EmbeddedSession(pglite);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: session.asKyselyPool() }) });
    const notifier = createLocalNotifier();
    return {
      kind: 'embedded',
      db,
      notifier,
      jobDatabase: session,
      async close() {
        await notifier.close();
        await db.destroy();
        await pglite.close();
        await releaseLock();
      },
    };
  } catch (error) {
    await releaseLock();
    throw error;
  }
}

/** Readiness probe: one round trip with a deadline. */
export async function pingDatabase(db: Db, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      sql`SELECT 1`.execute(db).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
