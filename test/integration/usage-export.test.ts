import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { csvField } from '../../src/accounting/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { importAuthJson } from '../../src/upstreams/index.ts';
import { bootstrapOwnerClient, startAdminHarness, type AdminClient, type AdminHarness } from '../support/admin.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { TEST_SECRETS } from '../support/gateway.ts';
import { killAllPoolers, poolerEnv, runPooler } from '../support/processes.ts';

// gpt-5.4, standard tier, in the vendored pricing feed (micro-USD per token).
const RATES = { input: 2.5, cached: 0.25, output: 15 };
const LABEL = 'team "north", batch';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let scratch: string;
let pool: { id: string; slug: string };
const keys: { id: string; key: string; label: string }[] = [];

async function send(key: string, text: string): Promise<void> {
  const response = await fetch(`${harness.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }], stream: true }),
  });
  expect(response.status).toBe(200);
  await response.text();
}

/** Per key: requests, tokens and the cost computed here from the logged usage and the feed's rates. */
async function expected() {
  const rows = await harness.db.selectFrom('requests').select(['api_key_id', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'total_tokens']).where('pool_id', '=', pool.id).execute();
  const byKey = new Map<string, { requests: number; total_tokens: number; micros: number }>();
  for (const r of rows) {
    const entry = byKey.get(r.api_key_id!) ?? { requests: 0, total_tokens: 0, micros: 0 };
    entry.requests += 1;
    entry.total_tokens += Number(r.total_tokens);
    entry.micros += (Number(r.input_tokens) - Number(r.cached_input_tokens)) * RATES.input + Number(r.cached_input_tokens) * RATES.cached + Number(r.output_tokens) * RATES.output;
    byKey.set(r.api_key_id!, entry);
  }
  return byKey;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'cxp-export-'));
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  await migrateAndImportPricing(harness.db, pino({ level: 'silent' }));
  owner = await bootstrapOwnerClient(harness);
  pool = await createPool(harness.db, cliActor(), { name: 'exports' });
  const account = await upstream.addAccount({ accountId: 'acct-export', email: 'export-account@example.com' });
  await importAuthJson(harness.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
  for (const label of [LABEL, 'plain']) {
    const minted = await mintApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), { pool: pool.slug, label });
    keys.push({ id: minted.apiKey.id, key: minted.key, label });
  }
  await send(keys[0]!.key, 'one');
  await send(keys[0]!.key, 'two, a little longer');
  await send(keys[1]!.key, 'three');
  for (let i = 0; i < 100; i++) {
    await harness.services.requestLog.flush();
    const done = await harness.db.selectFrom('requests').select('id').where('pool_id', '=', pool.id).where('status', '=', 'succeeded').execute();
    if (done.length === 3) break;
    await new Promise((r) => setTimeout(r, 50));
  }
}, 60_000);

afterAll(async () => {
  await killAllPoolers();
  await harness?.close();
  await upstream?.close();
  await rm(scratch, { recursive: true, force: true });
});

const exportUrl = (query: string) => `/pools/${pool.id}/usage/export?${query}`;

describe('usage exports', () => {
  test('CSV by key: header row, escaped labels, cost in USD to 6 decimals, priced flag', async () => {
    const response = await owner.get(exportUrl('format=csv&by=key&since=24h'));
    expect(response.status, response.raw).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="usage-exports-key-.*\.csv"$/);
    const lines = response.raw.trimEnd().split('\r\n');
    expect(lines[0]).toBe('key,label,requests,succeeded,failed,input_tokens,cached_input_tokens,output_tokens,reasoning_tokens,total_tokens,cost_usd,settled_cost_usd,estimated_cost_usd,unpriced_requests,priced');
    expect(lines).toHaveLength(3);
    const want = await expected();
    const first = want.get(keys[0]!.id)!;
    const second = want.get(keys[1]!.id)!;
    const usd = (micros: number) => (Math.round(micros) / 1e6).toFixed(6);
    expect(lines).toContain(`${keys[0]!.id},"team ""north"", batch",${first.requests},${first.requests},0,` + lines.find((l) => l.startsWith(keys[0]!.id))!.split(',').slice(6, 11).join(',') + `,${usd(first.micros)},${usd(first.micros)},0.000000,0,true`);
    const cells = lines.find((l) => l.startsWith(keys[1]!.id))!.split(',');
    expect(cells).toHaveLength(15);
    expect(cells.slice(0, 3)).toEqual([keys[1]!.id, 'plain', '1']);
    expect(Number(cells[9])).toBe(second.total_tokens);
    expect(cells.slice(10)).toEqual([usd(second.micros), usd(second.micros), '0.000000', '0', 'true']);
  });

  test('JSON by day: the same totals as numbers', async () => {
    const response = await owner.get(exportUrl('format=json&by=day&since=2d'));
    expect(response.status).toBe(200);
    const body = response.body;
    const want = [...(await expected()).values()];
    const micros = want.reduce((n, k) => n + k.micros, 0);
    expect(body).toMatchObject({ pool: { id: pool.id, slug: pool.slug }, by: 'day', currency: 'USD' });
    expect(body.totals).toMatchObject({ requests: 3, succeeded: 3, total_tokens: want.reduce((n, k) => n + k.total_tokens, 0), cost_usd: Math.round(micros) / 1e6, priced: true });
    expect(body.rows.reduce((n: number, r: { requests: number }) => n + r.requests, 0)).toBe(3);
  });

  test('bad input is refused with the JSON envelope', async () => {
    expect((await owner.get(exportUrl('format=xml'))).body.error).toMatchObject({ code: 'invalid_request', param: 'format' });
    expect((await owner.get(exportUrl('by=user'))).body.error).toMatchObject({ code: 'invalid_request', param: 'by' });
    expect((await owner.get(exportUrl('since=yesterday'))).body.error).toMatchObject({ code: 'invalid_request', param: 'since' });
    expect((await owner.get(exportUrl('format=csv&limit=5'))).body.error).toMatchObject({ code: 'invalid_request' });
    expect((await owner.get(`/pools/00000000-0000-4000-8000-000000000000/usage/export`)).status).toBe(404);
  });

  test('`usage export --output FILE` writes the same CSV the admin API serves', async () => {
    const database = harness.services.config.database as { url: string };
    const env = poolerEnv({ DATABASE_URL: database.url, ...TEST_SECRETS });
    const result = await runPooler(['usage', 'export', '--pool', pool.slug, '--format', 'csv', '--by', 'key', '--since', '7d', '--output', 'usage.csv'], { env, cwd: scratch });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`to usage.csv`);
    const file = await readFile(join(scratch, 'usage.csv'), 'utf8');
    const api = (await owner.get(exportUrl('format=csv&by=key&since=7d'))).raw;
    expect(file).toBe(api);
    const json = await runPooler(['usage', 'export', '--pool', pool.slug, '--format', 'json', '--since', '7d'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).totals.requests).toBe(3);
  }, 60_000);

  test('CSV fields: commas, quotes and line breaks are quoted', () => {
    expect([csvField('a,b'), csvField('say "hi"'), csvField('two\nlines'), csvField(null), csvField(1.5), csvField(true)]).toEqual(['"a,b"', '"say ""hi"""', '"two\nlines"', '', '1.5', 'true']);
    // Formula-looking text (labels and model names come from clients) is defused; numbers are not.
    expect([csvField('=HYPERLINK("x")'), csvField('+1 laptop'), csvField('@sum'), csvField('-0.5'), csvField(-2), csvField('gpt-5.4')]).toEqual([`"'=HYPERLINK(""x"")"`, "'+1 laptop", "'@sum", '-0.5', '-2', 'gpt-5.4']);
  });
});
