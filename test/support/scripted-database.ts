import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import type { Db } from '../../src/db/index.ts';

/** Answers one compiled query: rows to return (or a thrown error, or a promise the test holds). */
export type ScriptedQuery = <R>(query: CompiledQuery) => Promise<QueryResult<R>>;

/**
 * A Kysely `Db` on the real PostgreSQL dialect (so queries compile exactly as in production) whose
 * queries are answered by the test's script instead of a server: for unit tests of caches and
 * gates that must see a load held open, a failing statement or a fixed row.
 */
export function scriptedDatabase(answer: ScriptedQuery): Db {
  const connection: DatabaseConnection = {
    executeQuery: answer,
    streamQuery() {
      throw new Error('streaming queries are not scripted');
    },
  };
  const driver: Driver = {
    async init() {},
    async acquireConnection() {
      return connection;
    },
    async beginTransaction() {},
    async commitTransaction() {},
    async rollbackTransaction() {},
    async releaseConnection() {},
    async destroy() {},
  };
  return new Kysely({
    dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => driver, createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler() },
  }) as unknown as Db;
}
