import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { releaseStaleReservations, type LedgerRequest } from '../../src/accounting/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import type { NewRequestRow } from '../../src/gateway/request-log.table.ts';
import { RequestLogWriter } from '../../src/gateway/request-log-writer.ts';
import { removeAccount } from '../../src/upstreams/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

function requestOf(seeded: Awaited<ReturnType<typeof seedPool>>): { request: NewRequestRow & { id: string }; ledger: LedgerRequest } {
  const id = randomUUID();
  const now = new Date();
  return {
    request: {
      id,
      pool_id: seeded.pool.id,
      api_key_id: seeded.apiKey.id,
      pool_upstream_assignment_id: null,
      upstream_identity_id: null,
      model_id: null,
      requested_model: 'gpt-5.4',
      endpoint: '/backend-api/codex/responses',
      transport: 'http_sse',
      status: 'in_progress',
      correlation_id: id,
      client_ip: null,
      user_agent: null,
      admitted_at: now,
      completed_at: null,
      response_status_code: null,
      last_error_code: null,
      latency_ms: null,
      time_to_first_byte_ms: null,
      input_tokens: null,
      cached_input_tokens: null,
      output_tokens: null,
      reasoning_tokens: null,
      total_tokens: null,
      upstream_account_label: null,
      upstream_account_email: null,
      upstream_plan: null,
      reasoning_effort: null,
      service_tier: null,
      requested_service_tier: null,
      actual_service_tier: null,
      routing_reason: null,
    },
    ledger: {
      requestId: id,
      attemptId: null,
      poolId: seeded.pool.id,
      apiKeyId: seeded.apiKey.id,
      assignmentId: null,
      identityId: null,
      model: 'gpt-5.4',
      serviceTier: null,
      transport: 'http_sse',
      estimatedInputTokens: 10,
      usage: null,
      served: false,
      occurredAt: now,
    },
  };
}

describe('request log writer', () => {
  test('rows of a key deleted while they wait are discarded; the rest of the batch is written at once', async () => {
    const doomed = await seedPool(gateway, upstream, 1, 'writer-doomed');
    const kept = await seedPool(gateway, upstream, 1, 'writer-kept');
    const writer = gateway.services.requestLog;
    await writer.flush();
    const gone = requestOf(doomed);
    const stays = requestOf(kept);
    // Queue both, then delete the first key before the batch reaches the database.
    writer.reserve(gone);
    writer.reserve(stays);
    await gateway.services.db.deleteFrom('api_keys').where('id', '=', doomed.apiKey.id).execute();
    writer.write({ request: { ...gone.request, status: 'cancelled' }, attempts: [], ledger: gone.ledger });
    writer.write({ request: { ...stays.request, status: 'cancelled' }, attempts: [], ledger: stays.ledger });
    await writer.flush();

    expect(writer.pending).toBe(0);
    expect(writer.openReservations).toBe(0);
    const rows = await gateway.services.db.selectFrom('requests').select(['id', 'status']).where('id', 'in', [gone.request.id, stays.request.id]).execute();
    expect(rows).toEqual([{ id: stays.request.id, status: 'cancelled' }]);
    const ledger = await gateway.services.db.selectFrom('ledger_entries').select('entry_kind').where('request_id', '=', stays.request.id).orderBy('entry_kind').execute();
    expect(ledger.map((row) => row.entry_kind)).toEqual(['release', 'reservation']);
  });

  test('an account deleted while its rows wait is detached from the request, its attempts and its ledger rows', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'writer-account');
    const account = seeded.accounts[0]!;
    const writer = gateway.services.requestLog;
    const record = requestOf(seeded);
    const served = {
      request: { ...record.request, status: 'succeeded' as const, pool_upstream_assignment_id: account.assignmentId, upstream_identity_id: account.identityId },
      ledger: { ...record.ledger, assignmentId: account.assignmentId, identityId: account.identityId, served: true, usage: { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5, reasoningTokens: 0, totalTokens: 15 } },
    };
    writer.reserve(served);
    await removeAccount(gateway.services.accountDeps, cliActor(), account.assignmentId);
    const now = new Date();
    writer.write({
      ...served,
      attempts: [{ request_id: record.request.id, attempt_number: 1, pool_upstream_assignment_id: account.assignmentId, upstream_identity_id: account.identityId, model: 'gpt-5.4', transport: 'http_sse', status: 'succeeded', started_at: now, finished_at: now, upstream_status_code: 200, network_error_code: null, error_code: null, error_message: null, latency_ms: 5, usage_status: 'usage_known' }],
    });
    await writer.flush();

    expect(writer.pending).toBe(0);
    const row = await gateway.services.db.selectFrom('requests').select(['status', 'pool_upstream_assignment_id']).where('id', '=', record.request.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'succeeded', pool_upstream_assignment_id: null });
    const attempts = await gateway.services.db.selectFrom('attempts').select(['pool_upstream_assignment_id', 'upstream_identity_id']).where('request_id', '=', record.request.id).execute();
    expect(attempts).toEqual([{ pool_upstream_assignment_id: null, upstream_identity_id: null }]);
    const ledger = await gateway.services.db.selectFrom('ledger_entries').select(['entry_kind', 'input_tokens']).where('request_id', '=', record.request.id).orderBy('entry_kind').execute();
    expect(ledger.map((entry) => entry.entry_kind)).toEqual(['reservation', 'settlement']);
  });

  test('a request still running is kept alive: the stale-reservation cleanup never releases a long stream', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'writer-heartbeat');
    const writer = gateway.services.requestLog;
    const running = requestOf(seeded);
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    writer.reserve({ request: { ...running.request, admitted_at: twoHoursAgo }, ledger: { ...running.ledger, occurredAt: twoHoursAgo } });
    await writer.flush();
    const db = gateway.services.db;
    // As if the stream had been running for two hours and the last heartbeat were as old.
    await db.updateTable('requests').set({ updated_at: twoHoursAgo }).where('id', '=', running.request.id).execute();
    await db.updateTable('ledger_entries').set({ occurred_at: twoHoursAgo }).where('request_id', '=', running.request.id).execute();

    expect(await writer.touchOpenRequests()).toBeGreaterThanOrEqual(1);
    await releaseStaleReservations(db);
    const released = await db.selectFrom('ledger_entries').select('id').where('request_id', '=', running.request.id).where('entry_kind', '=', 'release').execute();
    expect(released).toEqual([]);
    writer.write({ request: { ...running.request, status: 'succeeded' }, attempts: [], ledger: { ...running.ledger, served: true, usage: { inputTokens: 5, cachedInputTokens: 0, outputTokens: 5, reasoningTokens: 0, totalTokens: 10 } } });
    await writer.flush();
    const kinds = await db.selectFrom('ledger_entries').select('entry_kind').where('request_id', '=', running.request.id).orderBy('entry_kind').execute();
    expect(kinds.map((k) => k.entry_kind)).toEqual(['reservation', 'settlement']);
  });

  test('a reservation whose write never comes is kept alive only up to the ceiling, then given up with one warning', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'writer-ceiling');
    const db = gateway.services.db;
    const warnings: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
    let now = Date.now();
    const writer = new RequestLogWriter(db, log, { openCeilingMs: 60_000, now: () => now });
    const lost = requestOf(seeded);
    const running = requestOf(seeded);
    writer.reserve(lost);
    now += 30_000;
    writer.reserve(running);
    await writer.flush();

    // Both still within the ceiling: both kept alive.
    expect(await writer.touchOpenRequests()).toBe(2);
    expect(warnings).toEqual([]);
    // The first is now past the ceiling: no longer touched, dropped, warned about once (by its id only).
    now += 30_001;
    expect(await writer.touchOpenRequests()).toBe(1);
    expect(writer.openReservations).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ abandoned_reservations: 1, request_ids: [lost.request.id] });
    expect(JSON.stringify(warnings[0])).not.toContain(running.request.id);
    expect(await writer.touchOpenRequests()).toBe(1);
    expect(warnings).toHaveLength(1);

    writer.write({ request: { ...running.request, status: 'cancelled' }, attempts: [], ledger: running.ledger });
    await writer.close(0);
    expect(writer.openReservations).toBe(0);
    const rows = await db.selectFrom('requests').select(['id', 'status']).where('id', 'in', [lost.request.id, running.request.id]).orderBy('status').execute();
    expect(rows).toEqual([
      { id: running.request.id, status: 'cancelled' },
      { id: lost.request.id, status: 'in_progress' },
    ]);
  });
});
