import { ConfigError } from '../config/index.ts';
import { EmbeddedDatabaseBusyError, MigrationError } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { CliFailure } from './io.ts';

type DriverError = Error & { code?: string; address?: string; port?: number; errors?: unknown[] };

/**
 * The one line an operator reads after `codex-pooler: `. Known failures get their own words; the
 * rest their message. Never a stack trace.
 */
export function describeError(error: unknown): string {
  if (error instanceof ConfigError || error instanceof PoolerError || error instanceof CliFailure || error instanceof MigrationError) return error.message;
  if (error instanceof EmbeddedDatabaseBusyError) {
    return `the embedded database is in use by process ${error.pid}; stop it first, or set DATABASE_URL to use PostgreSQL`;
  }
  const driver = error as DriverError;
  switch (driver?.code) {
    case '42P01': // undefined_table
    case '42703': // undefined_column
      return `the database schema is missing or out of date (${driver.message}); run \`codex-pooler migrate\` first`;
    case '3D000':
      return `${driver.message}; create it, or fix DATABASE_URL`;
    case '28P01':
    case '28000':
      return `PostgreSQL refused the login (${driver.message}); check DATABASE_URL`;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return `cannot reach PostgreSQL${driver.address ? ` at ${driver.address}${driver.port ? `:${driver.port}` : ''}` : ''} (${driver.code}); check DATABASE_URL and that the server runs`;
  }
  // AggregateError (pg connecting to several addresses) carries the reasons inside.
  if (error instanceof AggregateError && error.errors.length > 0) return describeError(error.errors[0]);
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** A printable one-liner: multi-line driver messages are folded. */
export function errorLine(error: unknown): string {
  return `codex-pooler: ${describeError(error).replace(/\s*\n\s*/g, ' ')}\n`;
}

export function exitCodeOf(error: unknown): number {
  return error instanceof CliFailure ? error.exitCode : 1;
}
