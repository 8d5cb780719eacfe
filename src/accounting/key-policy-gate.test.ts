import type { CompiledQuery, QueryResult } from 'kysely';
import { describe, expect, test, vi } from 'vitest';
import type { Db } from '../db/index.ts';
import { scriptedDatabase } from '../../test/support/scripted-database.ts';
import { KeyPolicyGate } from './key-policy-gate.ts';

const KEY = '00000000-0000-4000-8000-000000000001';

/**
 * A database that answers the gate's reads (one default binding of 2 requests per minute, empty
 * usage buckets) and fails the requests-per-minute claim, as when PostgreSQL stops answering.
 */
function databaseFailingClaims(): Db {
  return scriptedDatabase(async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
    if (query.sql.includes('claim_api_key_request_slot')) throw new Error('connection terminated unexpectedly');
    if (query.sql.includes('api_key_policy_bindings')) {
      const binding = { api_key_id: KEY, binding_scope: 'default', model_identifier: null, status: 'active', max_requests_per_minute: 2, max_tokens_per_day: null, max_tokens_per_week: null, max_input_tokens_per_request: null, max_output_tokens_per_request: null };
      return { rows: [binding as R] };
    }
    return { rows: [{ rpm: 0, day: 0, week: 0 } as R] };
  });
}

/**
 * A key without limits until the test gives it some; the first limits read sees the bindings as
 * they are when it starts and answers only when the test releases it.
 */
function databaseHoldingFirstPolicyRead() {
  const state = { maxInputTokensPerRequest: null as number | null };
  const held: (() => void)[] = [];
  let policyReads = 0;
  const db = scriptedDatabase(async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
    if (!query.sql.includes('api_key_policy_bindings')) return { rows: [{ rpm: 0, day: 0, week: 0 } as R] };
    const max = state.maxInputTokensPerRequest;
    if (policyReads++ === 0) await new Promise<void>((release) => held.push(release));
    if (max === null) return { rows: [] };
    const binding = { api_key_id: KEY, binding_scope: 'default', model_identifier: null, status: 'active', max_requests_per_minute: null, max_tokens_per_day: null, max_tokens_per_week: null, max_input_tokens_per_request: max, max_output_tokens_per_request: null };
    return { rows: [binding as R] };
  });
  return { db, state, held, reads: () => policyReads };
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

  test('limits read before an edit are not cached over it: the next request reads the new limits', async () => {
    const { db, state, held, reads } = databaseHoldingFirstPolicyRead();
    const gate = new KeyPolicyGate(db);
    const request = { inputTokens: 10, outputTokens: 0 };
    const first = gate.admit(KEY, 'gpt-5.4', request);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    // Limits are set (and this process told) while that read is still running.
    state.maxInputTokensPerRequest = 5;
    gate.invalidate(KEY);
    held[0]!();
    await expect(first).resolves.toBeTypeOf('function');
    await expect(gate.admit(KEY, 'gpt-5.4', request)).rejects.toMatchObject({ code: 'api_key_policy_limit_exceeded', param: 'max_input_tokens_per_request' });
    expect(reads()).toBe(2);
  });
});
