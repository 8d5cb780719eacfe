import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { describe, expect, test } from 'vitest';
import type { Db } from '../db/index.ts';
import { KeyPolicyGate } from './key-policy-gate.ts';

const KEY = '00000000-0000-4000-8000-000000000001';

/**
 * A database that answers the gate's reads (one default binding of 2 requests per minute, empty
 * usage buckets) and fails the requests-per-minute claim, as when PostgreSQL stops answering.
 */
function databaseFailingClaims(): Db {
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      if (query.sql.includes('claim_api_key_request_slot')) throw new Error('connection terminated unexpectedly');
      if (query.sql.includes('api_key_policy_bindings')) {
        const binding = { api_key_id: KEY, binding_scope: 'default', model_identifier: null, status: 'active', max_requests_per_minute: 2, max_tokens_per_day: null, max_tokens_per_week: null, max_input_tokens_per_request: null, max_output_tokens_per_request: null };
        return { rows: [binding as R] };
      }
      return { rows: [{ rpm: 0, day: 0, week: 0 } as R] };
    },
    streamQuery() {
      throw new Error('not used');
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

describe('KeyPolicyGate', () => {
  test('when the requests-per-minute claim fails, requests are admitted up to the limit from the local estimate, then refused', async () => {
    const failures: unknown[] = [];
    const gate = new KeyPolicyGate(databaseFailingClaims(), { onClaimError: (error) => failures.push(error) });
    const request = { inputTokens: 10, outputTokens: 10 };
    await gate.admit(KEY, 'gpt-5.4', request);
    await gate.admit(KEY, 'gpt-5.4', request);
    await expect(gate.admit(KEY, 'gpt-5.4', request)).rejects.toMatchObject({ code: 'api_key_policy_limit_exceeded', param: 'max_requests_per_minute' });
    expect(failures).toHaveLength(3);
  });
});
