import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ledgerEntries, rebuildDailyRollups, staleRollupDays, usageReport, writeLedger, type UsageReport } from '../../src/accounting/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { openDatabase, type DatabaseHandle, type Db } from '../../src/db/index.ts';
import { rebuildDailyRollupsJob } from '../../src/jobs/rebuild-daily-rollups.ts';
import { createPool } from '../../src/pools/index.ts';
import { killAllPoolers, poolerEnv, runPooler, testSecrets } from '../support/processes.ts';

// The database is shared with concurrent test files: everything here lives in pools created here,
// on days of 2021 that no other file writes (coverage is per day, across pools).
let handle: DatabaseHandle;
let db: Db;

type Fixture = {
  admittedAt: string;
  status: 'succeeded' | 'failed' | 'rejected' | 'cancelled' | 'in_progress';
  key: 'k1' | 'k2' | null;
  account: 'a1' | 'a2' | null;
  model: string | null;
  tokens?: [input: number, cached: number, output: number, reasoning: number];
  retries?: number;
  /** reservation estimate, µ$ */
  estimate?: number;
  /** settlement: µ$ (null = unpriced), or 'release', or absent (still reserved) */
  outcome?: { settled: number | null; usage?: boolean } | 'release';
};

type Seed = { poolId: string; keys: Record<'k1' | 'k2', string>; accounts: Record<'a1' | 'a2', { assignment: string; identity: string }> };

async function seedPool(label: string): Promise<Seed> {
  const pool = await createPool(db, cliActor(), { name: `${label}-${randomBytes(4).toString('hex')}` });
  const key = async (name: string) =>
    (
      await sql<{ id: string }>`INSERT INTO api_keys (pool_id, display_name, key_prefix, key_hash)
        VALUES (${pool.id}, ${name}, ${`sk-cxp-${randomBytes(6).toString('hex')}`}, ${randomBytes(32)}) RETURNING id`.execute(db)
    ).rows[0]!.id;
  const account = async (name: string) => {
    const identity = (
      await sql<{ id: string }>`INSERT INTO upstream_identities (account_label, onboarding_method, status) VALUES (${name}, 'import', 'active') RETURNING id`.execute(db)
    ).rows[0]!.id;
    const assignment = (
      await sql<{ id: string }>`INSERT INTO pool_upstream_assignments (pool_id, upstream_identity_id, assignment_label, status) VALUES (${pool.id}, ${identity}, ${name}, 'active') RETURNING id`.execute(db)
    ).rows[0]!.id;
    return { assignment, identity };
  };
  return { poolId: pool.id, keys: { k1: await key('key one'), k2: await key('key two') }, accounts: { a1: await account('acct one'), a2: await account('acct two') } };
}

async function insertFixtures(seed: Seed, fixtures: Fixture[]): Promise<string[]> {
  const ids: string[] = [];
  for (const f of fixtures) {
    const id = randomUUID();
    const [input, cached, output, reasoning] = f.tokens ?? [null, null, null, null];
    const account = f.account ? seed.accounts[f.account] : null;
    const admittedAt = new Date(f.admittedAt);
    await db
      .insertInto('requests')
      .values({
        id,
        pool_id: seed.poolId,
        api_key_id: f.key ? seed.keys[f.key] : null,
        pool_upstream_assignment_id: account?.assignment ?? null,
        upstream_identity_id: account?.identity ?? null,
        model_id: f.model,
        requested_model: f.model,
        endpoint: '/backend-api/codex/responses',
        transport: 'http_sse',
        status: f.status,
        correlation_id: id,
        client_ip: null,
        user_agent: null,
        admitted_at: admittedAt,
        completed_at: null,
        response_status_code: null,
        retry_count: f.retries ?? 0,
        last_error_code: null,
        latency_ms: null,
        time_to_first_byte_ms: null,
        input_tokens: input,
        cached_input_tokens: cached,
        output_tokens: output,
        reasoning_tokens: reasoning,
        total_tokens: input === null ? null : input + output!,
        upstream_account_label: null,
        upstream_account_email: null,
        upstream_plan: null,
        reasoning_effort: null,
        service_tier: null,
        requested_service_tier: null,
        actual_service_tier: null,
        routing_reason: null,
      })
      .execute();
    const common = { request_id: id, pool_id: seed.poolId, api_key_id: f.key ? seed.keys[f.key] : null, model: f.model, occurred_at: new Date(admittedAt.getTime() + 5_000) };
    if (f.estimate !== undefined) {
      await db.insertInto('ledger_entries').values({ ...common, entry_kind: 'reservation', request_count: 1, estimated_cost_micros: f.estimate.toFixed(9), source_event_id: `request:${id}:reservation` }).execute();
    }
    if (f.outcome === 'release') {
      await db.insertInto('ledger_entries').values({ ...common, entry_kind: 'release', request_count: 1, estimated_cost_micros: (f.estimate ?? 0).toFixed(9), source_event_id: `request:${id}:release` }).execute();
    } else if (f.outcome) {
      await db
        .insertInto('ledger_entries')
        .values({
          ...common,
          entry_kind: 'settlement',
          usage_status: f.outcome.usage === false ? 'usage_unknown' : 'usage_known',
          request_count: 1,
          input_tokens: input ?? 0,
          cached_input_tokens: cached ?? 0,
          output_tokens: output ?? 0,
          reasoning_tokens: reasoning ?? 0,
          total_tokens: (input ?? 0) + (output ?? 0),
          estimated_cost_micros: (f.estimate ?? 0).toFixed(9),
          settled_cost_micros: f.outcome.settled === null ? null : f.outcome.settled.toFixed(9),
          source_event_id: `request:${id}:settlement`,
          details: JSON.stringify({ unpriced: f.outcome.settled === null }) as never,
        })
        .execute();
    }
    ids.push(id);
  }
  return ids;
}

const micro = (n: number) => Math.round(n * 1e6) / 1e6;
const rounded = <T extends { estimatedCostMicros: number; settledCostMicros: number }>(t: T): T => ({ ...t, estimatedCostMicros: micro(t.estimatedCostMicros), settledCostMicros: micro(t.settledCostMicros) });

/** What the rollup of these fixtures must say, computed by hand from the fixtures themselves. */
function expected(fixtures: Fixture[]) {
  const sum = (f: (x: Fixture) => number) => fixtures.reduce((n, x) => n + f(x), 0);
  const closed = (x: Fixture) => x.outcome !== undefined;
  return {
    requests: fixtures.length,
    admitted: sum((x) => (x.status === 'rejected' ? 0 : 1)),
    succeeded: sum((x) => (x.status === 'succeeded' ? 1 : 0)),
    failed: sum((x) => (['failed', 'rejected', 'cancelled'].includes(x.status) ? 1 : 0)),
    retries: sum((x) => x.retries ?? 0),
    inputTokens: sum((x) => x.tokens?.[0] ?? 0),
    cachedInputTokens: sum((x) => x.tokens?.[1] ?? 0),
    outputTokens: sum((x) => x.tokens?.[2] ?? 0),
    reasoningTokens: sum((x) => x.tokens?.[3] ?? 0),
    totalTokens: sum((x) => (x.tokens ? x.tokens[0] + x.tokens[2] : 0)),
    estimatedCostMicros: micro(sum((x) => (closed(x) ? 0 : (x.estimate ?? 0)))),
    settledCostMicros: micro(sum((x) => (x.outcome && x.outcome !== 'release' ? (x.outcome.settled ?? 0) : 0))),
    unpricedRequests: sum((x) => (x.outcome && x.outcome !== 'release' && x.outcome.settled === null ? 1 : 0)),
  };
}

const D1 = '2021-03-14';
const D2 = '2021-03-15';
const D3 = '2021-03-16'; // "today" for the reports below
const NOW = new Date(`${D3}T10:00:00Z`);

// 1000 input (200 cached) + 100 output at 5 / 0.5 / 30 µ$ per token: 800·5 + 200·0.5 + 100·30 = 7,100 µ$ (spec §12.53)
const day1: Fixture[] = [
  { admittedAt: `${D1}T00:00:00.000Z`, status: 'succeeded', key: 'k1', account: 'a1', model: 'gpt-5.4', tokens: [1000, 200, 100, 40], retries: 1, estimate: 2500, outcome: { settled: 7100 } },
  { admittedAt: `${D1}T08:30:00Z`, status: 'failed', key: 'k1', account: 'a1', model: 'gpt-5.4', estimate: 1000, outcome: 'release' },
  { admittedAt: `${D1}T09:00:00Z`, status: 'succeeded', key: 'k2', account: 'a2', model: 'Mystery-Model', tokens: [500, 0, 50, 0], estimate: 0, outcome: { settled: null } },
  { admittedAt: `${D1}T10:00:00Z`, status: 'rejected', key: 'k2', account: null, model: 'gpt-5.4' },
  { admittedAt: `${D1}T13:00:00Z`, status: 'in_progress', key: 'k1', account: 'a1', model: 'gpt-5.4', estimate: 3000 },
  { admittedAt: `${D1}T18:00:00Z`, status: 'cancelled', key: 'k1', account: 'a2', model: 'gpt-5.4-mini', tokens: [300, 100, 20, 10], estimate: 400, outcome: { settled: 123.456789 } },
  // settled a few seconds after midnight: still the day it was admitted
  { admittedAt: `${D1}T23:59:59.999Z`, status: 'succeeded', key: 'k2', account: 'a1', model: 'gpt-5.4', tokens: [10, 0, 5, 0], estimate: 50, outcome: { settled: 100 } },
];
const day2: Fixture[] = [
  { admittedAt: `${D2}T00:00:00Z`, status: 'succeeded', key: 'k1', account: 'a2', model: 'gpt-5.4', tokens: [2000, 1000, 300, 100], estimate: 600, outcome: { settled: 14_500 } },
  { admittedAt: `${D2}T12:00:00Z`, status: 'succeeded', key: 'k2', account: 'a2', model: 'mystery-model', tokens: [40, 0, 4, 0], estimate: 0, outcome: { settled: null } },
];
const day3: Fixture[] = [{ admittedAt: `${D3}T09:00:00Z`, status: 'succeeded', key: 'k1', account: 'a1', model: 'gpt-5.4', tokens: [100, 0, 10, 0], estimate: 50, outcome: { settled: 550 } }];

let seed: Seed;

beforeAll(async () => {
  handle = await openDatabase({ kind: 'postgres', url: inject('databaseUrl'), poolSize: 4, ipv6: false }, { onError: () => {} });
  db = handle.db;
  seed = await seedPool('rollups');
  await insertFixtures(seed, [...day1, ...day2, ...day3]);
});

afterAll(async () => {
  await killAllPoolers();
  await handle?.close();
});

const rollupRows = async (poolId: string, day: string) =>
  (
    await sql<Record<string, unknown>>`
      SELECT dimension_kind, dimension_id, request_count, admitted_request_count, success_count, failure_count, retry_count,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens,
        estimated_cost_micros, settled_cost_micros, rounded_settled_cost_micros, unpriced_request_count
      FROM daily_rollups WHERE pool_id = ${poolId} AND rollup_date = ${day}::date ORDER BY dimension_kind, dimension_id`.execute(db)
  ).rows;

const coverage = async (day: string) =>
  (await sql<{ completed_at: Date | null; mutation_version: string; contract_version: number }>`SELECT * FROM daily_rollup_coverages WHERE rollup_date = ${day}::date`.execute(db)).rows[0];

describe('rebuildDailyRollups', () => {
  test("a day's rollup equals the sum of its source rows, per dimension, and the day becomes covered", async () => {
    const result = await rebuildDailyRollups(db, D1, { now: NOW });
    expect(result.covered).toBe(true);
    expect(rounded(result.totals)).toEqual(expected(day1));

    // The same totals straight from the raw rows, by an independent query.
    const raw = (
      await sql<{ requests: string; tokens: string; settled: string }>`
        SELECT count(*) AS requests, coalesce(sum(total_tokens), 0) AS tokens,
          (SELECT coalesce(sum(settled_cost_micros), 0) FROM ledger_entries l JOIN requests q ON q.id = l.request_id
            WHERE q.pool_id = ${seed.poolId} AND l.entry_kind = 'settlement' AND q.admitted_at >= ${`${D1}T00:00:00Z`} AND q.admitted_at < ${`${D2}T00:00:00Z`}) AS settled
        FROM requests WHERE pool_id = ${seed.poolId} AND admitted_at >= ${`${D1}T00:00:00Z`} AND admitted_at < ${`${D2}T00:00:00Z`}`.execute(db)
    ).rows[0]!;
    const rows = await rollupRows(seed.poolId, D1);
    const pool = rows.find((r) => r.dimension_kind === 'pool')!;
    const num = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, k.startsWith('dimension') ? v : Number(v)]));
    expect(num(pool)).toMatchObject({ dimension_id: seed.poolId, request_count: Number(raw.requests), total_tokens: Number(raw.tokens) });
    expect(Number(pool.settled_cost_micros)).toBeCloseTo(Number(raw.settled), 6);
    expect(num(pool)).toMatchObject({ admitted_request_count: 6, success_count: 3, failure_count: 3, retry_count: 1, unpriced_request_count: 1, rounded_settled_cost_micros: 7323 });
    expect(Number(pool.estimated_cost_micros)).toBe(3000); // only the reservation nothing settled or released

    const sumOf = (kind: string, column: string) => rows.filter((r) => r.dimension_kind === kind).reduce((n, r) => n + Number(r[column]), 0);
    // Keys and models cover every request; accounts leave out the rejected one (no account was chosen).
    for (const column of ['request_count', 'total_tokens', 'settled_cost_micros', 'estimated_cost_micros', 'unpriced_request_count']) {
      expect(sumOf('api_key', column)).toBeCloseTo(Number(pool[column]), 6);
      expect(sumOf('model', column)).toBeCloseTo(Number(pool[column]), 6);
    }
    expect(sumOf('pool_upstream_assignment', 'request_count')).toBe(6);
    expect(sumOf('upstream_identity', 'request_count')).toBe(6);
    const models = Object.fromEntries(rows.filter((r) => r.dimension_kind === 'model').map((r) => [r.dimension_id, Number(r.request_count)]));
    expect(models).toEqual({ 'gpt-5.4': 5, 'gpt-5.4-mini': 1, 'mystery-model': 1 });
    const k1 = rows.find((r) => r.dimension_kind === 'api_key' && r.dimension_id === seed.keys.k1)!;
    expect(num(k1)).toMatchObject({ request_count: 4, input_tokens: 1300, cached_input_tokens: 300, output_tokens: 120, reasoning_tokens: 50 });

    const cov = await coverage(D1);
    expect(cov).toMatchObject({ contract_version: 2 });
    expect(cov!.completed_at).toBeInstanceOf(Date);
  });

  test('rebuilding again writes the same rows (idempotent)', async () => {
    const first = await rebuildDailyRollups(db, D1, { now: NOW });
    const before = await rollupRows(seed.poolId, D1);
    const second = await rebuildDailyRollups(db, D1, { now: NOW });
    expect(second).toEqual(first);
    expect(await rollupRows(seed.poolId, D1)).toEqual(before);
    expect(Number((await sql<{ n: string }>`SELECT count(*) AS n FROM daily_rollups WHERE pool_id = ${seed.poolId} AND rollup_date = ${D1}::date`.execute(db)).rows[0]!.n)).toBe(before.length);
  });

  test('concurrent rebuilds of one day queue up and leave one set of rows', async () => {
    const results = await Promise.all([rebuildDailyRollups(db, D2, { now: NOW }), rebuildDailyRollups(db, D2, { now: NOW })]);
    expect(rounded(results[0].totals)).toEqual(expected(day2));
    expect(results[1]).toEqual(results[0]);
    expect((await rollupRows(seed.poolId, D2)).filter((r) => r.dimension_kind === 'pool')).toHaveLength(1);
    await sql`DELETE FROM daily_rollups WHERE rollup_date = ${D2}::date`.execute(db);
    await sql`DELETE FROM daily_rollup_coverages WHERE rollup_date = ${D2}::date`.execute(db);
  });

  test('today is rolled up but never covered; a future day or a malformed date is refused', async () => {
    const today = await rebuildDailyRollups(db, D3, { now: NOW });
    expect(today).toMatchObject({ covered: false, totals: expected(day3) });
    await expect(rebuildDailyRollups(db, '2021-03-17', { now: NOW })).rejects.toThrow(/in the future/);
    await expect(rebuildDailyRollups(db, '2021-02-30', { now: NOW })).rejects.toThrow(/YYYY-MM-DD/);
    await sql`DELETE FROM daily_rollups WHERE rollup_date = ${D3}::date`.execute(db);
  });
});

describe('coverage', () => {
  test('a late row or a changed measure clears coverage; a delete does not; today never touches it', async () => {
    const other = await seedPool('coverage');
    const day = '2021-04-02';
    const [first] = await insertFixtures(other, [{ admittedAt: `${day}T10:00:00Z`, status: 'succeeded', key: 'k1', account: 'a1', model: 'gpt-5.4', tokens: [1, 0, 1, 0], estimate: 1, outcome: { settled: 1 } }]);
    expect((await rebuildDailyRollups(db, day)).covered).toBe(true);
    const published = await coverage(day);

    // A request of that day written late: the day is untrusted until rebuilt.
    await insertFixtures(other, [{ admittedAt: `${day}T11:00:00Z`, status: 'succeeded', key: 'k1', account: 'a1', model: 'gpt-5.4', tokens: [2, 0, 2, 0] }]);
    const invalidated = await coverage(day);
    expect(invalidated!.completed_at).toBeNull();
    expect(Number(invalidated!.mutation_version)).toBeGreaterThan(Number(published!.mutation_version));
    expect(await staleRollupDays(db, { lookbackDays: 100_000 })).toContain(day);
    expect((await rebuildDailyRollups(db, day)).totals.requests).toBe(2);

    // A ledger row of a request of that day (its settlement corrected) invalidates the request's day.
    await db.updateTable('ledger_entries').set({ settled_cost_micros: '5.000000000' }).where('request_id', '=', first!).where('entry_kind', '=', 'settlement').execute();
    expect((await coverage(day))!.completed_at).toBeNull();
    expect((await rebuildDailyRollups(db, day)).totals.settledCostMicros).toBe(5);

    // Metadata that no rollup counts, and deletes (retention), leave the day trusted.
    await db.updateTable('requests').set({ user_agent: 'changed' }).where('id', '=', first!).execute();
    await db.deleteFrom('requests').where('pool_id', '=', other.poolId).where('admitted_at', '>', new Date(`${day}T10:30:00Z`)).execute();
    expect((await coverage(day))!.completed_at).toBeInstanceOf(Date);

    // Rows of today (by the database clock) never create or touch a coverage row.
    const now = new Date();
    await insertFixtures(other, [{ admittedAt: now.toISOString(), status: 'succeeded', key: 'k1', account: 'a1', model: 'gpt-5.4', tokens: [1, 0, 1, 0], estimate: 1, outcome: { settled: 1 } }]);
    expect(await coverage(now.toISOString().slice(0, 10))).toBeUndefined();
  });

  test('the job rebuilds yesterday and the invalidated days of the last week, or the day it is given', async () => {
    const other = await seedPool('job');
    const day = '2021-05-10';
    await insertFixtures(other, [{ admittedAt: `${day}T10:00:00Z`, status: 'succeeded', key: 'k2', account: 'a2', model: 'gpt-5.4', tokens: [3, 0, 3, 0] }]);
    const log = pino({ level: 'silent' });
    const ctx = { db, log, credentials: null, accountDeps: null };
    const explicit = await rebuildDailyRollupsJob.run({ ...ctx, now: () => new Date('2021-06-01T00:17:00Z') }, { date: day });
    expect(explicit).toEqual({ rebuilt: [{ date: day, rows: 5, covered: true }] });

    await insertFixtures(other, [{ admittedAt: `${day}T11:00:00Z`, status: 'failed', key: 'k2', account: 'a2', model: 'gpt-5.4' }]);
    const scheduled = await rebuildDailyRollupsJob.run({ ...ctx, now: () => new Date('2021-05-13T00:17:00Z') }, {});
    expect(scheduled).toEqual({ rebuilt: [{ date: day, rows: 5, covered: true }, { date: '2021-05-12', rows: 0, covered: true }] });
    expect(rebuildDailyRollupsJob.cron).toBe('17 0 * * *');
  });
});

describe('usageReport', () => {
  const from = new Date(`${D1}T00:00:00Z`);
  const report = (groupBy: 'day' | 'api_key' | 'account' | 'model', extra: { from?: Date } = {}) =>
    usageReport(db, { from: extra.from ?? from, to: new Date(`${D3}T12:00:00Z`), groupBy, poolIds: [seed.poolId], now: NOW });
  const measuresOf = (fixtures: Fixture[]) => {
    const e = expected(fixtures);
    return {
      requests: e.requests,
      succeeded: e.succeeded,
      failed: e.failed,
      input_tokens: e.inputTokens,
      cached_input_tokens: e.cachedInputTokens,
      output_tokens: e.outputTokens,
      reasoning_tokens: e.reasoningTokens,
      total_tokens: e.totalTokens,
      unpriced_requests: e.unpricedRequests,
      priced: e.unpricedRequests === 0,
      cost_usd: Math.round(Math.round(e.settledCostMicros * 1000) / 1000 + Math.round(e.estimatedCostMicros * 1000) / 1000) / 1e6,
    };
  };
  const sumRows = (r: UsageReport) => ({
    requests: r.rows.reduce((n, x) => n + x.requests, 0),
    total_tokens: r.rows.reduce((n, x) => n + x.total_tokens, 0),
    cost_usd: Math.round(r.rows.reduce((n, x) => n + x.cost_usd, 0) * 1e6) / 1e6,
  });

  test('covered past days come from rollups, the uncovered day and today from live rows', async () => {
    await rebuildDailyRollups(db, D1, { now: NOW });
    await sql`DELETE FROM daily_rollup_coverages WHERE rollup_date = ${D2}::date`.execute(db);
    const byDay = await report('day');
    expect(byDay.sources.rollup_days).toEqual([D1]);
    expect(byDay.sources.live_ranges).toEqual([{ start: new Date(`${D2}T00:00:00Z`), end: new Date(`${D3}T12:00:00Z`) }]);
    expect(byDay.rows.map((r) => r.key)).toEqual([D1, D2, D3]);
    expect(byDay.rows[0]).toMatchObject(measuresOf(day1));
    expect(byDay.rows[1]).toMatchObject(measuresOf(day2));
    expect(byDay.rows[2]).toMatchObject(measuresOf(day3));
    expect(byDay.totals).toMatchObject(measuresOf([...day1, ...day2, ...day3]));
    expect(byDay.totals.cost_usd).toBe(0.025373); // (7100 + 123.456789 + 100 + 3000) + 14500 + 550 µ$, to the micro-USD
    expect(byDay.rows[0]!.priced).toBe(false);

    // Proof the covered day is read from its rollup: a change there shows; a rebuild puts it back.
    await sql`UPDATE daily_rollups SET request_count = request_count + 1000 WHERE pool_id = ${seed.poolId} AND rollup_date = ${D1}::date AND dimension_kind = 'pool'`.execute(db);
    expect((await report('day')).rows[0]!.requests).toBe(day1.length + 1000);
    await rebuildDailyRollups(db, D1, { now: NOW });
    expect((await report('day')).rows[0]!.requests).toBe(day1.length);
  });

  test('every grouping adds up to the same totals; requests without an account form a null row', async () => {
    const all = measuresOf([...day1, ...day2, ...day3]);
    for (const groupBy of ['api_key', 'account', 'model'] as const) {
      const r = await report(groupBy);
      expect(r.totals).toMatchObject(all);
      expect(sumRows(r)).toEqual({ requests: all.requests, total_tokens: all.total_tokens, cost_usd: all.cost_usd });
    }
    const byModel = await report('model');
    expect(Object.fromEntries(byModel.rows.map((r) => [r.key, [r.requests, r.unpriced_requests, r.priced]]))).toEqual({
      'gpt-5.4': [7, 0, true],
      'gpt-5.4-mini': [1, 0, true],
      'mystery-model': [2, 2, false],
    });
    const byAccount = await report('account');
    expect(byAccount.rows.at(-1)).toMatchObject({ key: null, label: null, requests: 1, succeeded: 0, failed: 1 });
    expect(byAccount.rows.find((r) => r.key === seed.accounts.a1.assignment)).toMatchObject({ label: 'acct one' });
    const byKey = await report('api_key');
    expect(byKey.rows.map((r) => r.label).sort()).toEqual(['key one', 'key two']);
    expect(byKey.rows.find((r) => r.key === seed.keys.k1)).toMatchObject({ requests: 6, total_tokens: 1100 + 320 + 2300 + 110 });
  });

  test('a day the range only partly covers is read live, exactly within the range', async () => {
    const r = await report('day', { from: new Date(`${D1}T12:00:00Z`) });
    expect(r.sources.rollup_days).toEqual([]);
    expect(r.rows[0]).toMatchObject(measuresOf(day1.filter((f) => f.admittedAt >= `${D1}T12:00:00Z`)));
    expect(await usageReport(db, { from, to: new Date(`${D3}T12:00:00Z`), groupBy: 'day', poolIds: [], now: NOW })).toMatchObject({ rows: [], totals: { requests: 0 } });
    await expect(usageReport(db, { from, to: from, groupBy: 'day' })).rejects.toThrow(/from must be before to/);
  });

  test('`usage --by model --json` prints a bare array of rows', async () => {
    const env = poolerEnv({ DATABASE_URL: inject('databaseUrl'), ...testSecrets(), LOG_LEVEL: 'warn' });
    const result = await runPooler(['usage', '--pool', seed.poolId, '--by', 'model', '--from', D1, '--to', `${D3}T12:00:00Z`, '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => r.model)).toEqual(['gpt-5.4', 'gpt-5.4-mini', 'mystery-model']);
    expect(rows[2]).toMatchObject({ requests: 2, input_tokens: 540, cached_input_tokens: 0, output_tokens: 54, reasoning_tokens: 0, total_tokens: 594, cost_usd: 0, priced: false, unpriced_requests: 2 });
    for (const key of ['requests', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'cost_usd', 'priced']) expect(rows[0]).toHaveProperty(key);

    const text = await runPooler(['usage', '--pool', seed.poolId, '--by', 'key', '--from', D1, '--to', `${D3}T12:00:00Z`], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^KEY\s+REQUESTS/m);
    expect(text.stdout).toMatch(/^total\s+10\s/m);
    expect(text.stdout).toContain('2 requests had no price');

    const bad = await runPooler(['usage', '--by', 'colour'], { env });
    expect(bad.code).toBe(2);
  });
});
