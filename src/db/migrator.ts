import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import type { Db } from './database.ts';
import { LATEST_MIGRATION, migrationProvider } from './migrations/index.ts';

export type MigrationReport = { applied: string[]; current: string | null };

export class MigrationError extends Error {
  readonly migration: string | null;
  constructor(migration: string | null, cause: unknown) {
    super(`migration ${migration ?? '(unknown)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MigrationError';
    this.migration = migration;
  }
}

function migratorFor(db: Db): Migrator {
  return new Migrator({ db, provider: migrationProvider, migrationTableName: 'schema_migrations', migrationLockTableName: 'schema_migrations_lock' });
}

/** Applies pending migrations; idempotent. */
export async function migrateToLatest(db: Db): Promise<MigrationReport> {
  const { error, results } = await migratorFor(db).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) throw new MigrationError(failed?.migrationName ?? null, error);
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  return { applied, current: await currentMigration(db) };
}

export async function currentMigration(db: Db): Promise<string | null> {
  const exists = await sql<{ present: boolean }>`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`.execute(db);
  if (!exists.rows[0]?.present) return null;
  const row = await sql<{ name: string }>`SELECT name FROM schema_migrations ORDER BY name DESC LIMIT 1`.execute(db);
  return row.rows[0]?.name ?? null;
}

/** Readiness: the schema this build expects is in place. */
export async function migrationsCurrent(db: Db): Promise<boolean> {
  return (await currentMigration(db)) === LATEST_MIGRATION;
}
