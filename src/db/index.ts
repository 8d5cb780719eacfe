export type { Database, Db, Tx } from './database.ts';
export { openDatabase, pingDatabase } from './connect.ts';
export type { DatabaseHandle, JobDatabase } from './connect.ts';
export { currentMigration, migrateToLatest, migrationsCurrent, MigrationError } from './migrator.ts';
export type { MigrationReport } from './migrator.ts';
export { acquireEmbeddedLock, embeddedLockHolder, EmbeddedDatabaseBusyError } from './embedded-lock.ts';
export type { Notifier } from './notifier.ts';
export { isUuid, UUID_PATTERN } from './ids.ts';
export { API_KEY_CHANNEL, CREDENTIALS_CHANNEL, ROUTING_CHANNEL } from './channels.ts';

/** jsonb parameters travel as JSON text: both drivers then agree (pg would turn arrays into PG arrays). */
export const jsonb = <T>(value: T): T => JSON.stringify(value) as unknown as T;
