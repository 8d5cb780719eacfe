import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { VENDORED_PRICING_FEED } from '../../src/accounting/index.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { killAllPoolers, poolerEnv, runPooler, testSecrets } from '../support/processes.ts';

// A database of its own: import counts are exact only when no other file imported the feed before.
let scratch: ScratchDatabase;
let handle: DatabaseHandle;
let env: NodeJS.ProcessEnv;
let dir: string;
let server: Server;
let baseUrl: string;
let vendoredTotal: number;

const catalog = JSON.stringify({
  generated_at: '2025-01-01T00:00:00Z',
  models: {
    'cxp-url-model': {
      categories: ['language_model'],
      category: 'language_model',
      model: 'cxp-url-model',
      prices: { standard: { default: { input: 1.5, cached_input: 0.15, output: 6 } }, fast: { default: { input: 3, output: 12, reasoning: 20 } } },
      pricing_type: 'per_1m_tokens',
      pricing_types: ['per_1m_tokens'],
      timestamp: '2025-01-01T00:00:00Z',
    },
  },
  models_count: 1,
  source: 'test',
  source_url: 'https://example.test/pricing',
  tools: {},
  tools_count: 0,
});

const snapshotCount = async () => Number((await handle.db.selectFrom('pricing_snapshots').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
const pricing = (...args: string[]) => runPooler(['pricing', ...args], { env });
const stderrLine = (stderr: string) => stderr.trim().split('\n');

beforeAll(async () => {
  scratch = await createScratchDatabase('pricing');
  handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  await migrateToLatest(handle.db);
  env = poolerEnv({ DATABASE_URL: scratch.url, ...testSecrets() });
  dir = await mkdtemp(join(tmpdir(), 'cxp-pricing-'));
  server = createServer((req, res) => {
    if (req.url === '/pricing.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(catalog);
    res.writeHead(404).end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const feed = JSON.parse(await readFile(VENDORED_PRICING_FEED, 'utf8')) as { models: { aliases: string[]; tiers: Record<string, Record<string, unknown>> }[] };
  vendoredTotal = feed.models.reduce((n, m) => n + (1 + m.aliases.length) * Object.values(m.tiers).reduce((b, buckets) => b + Object.keys(buckets).length, 0), 0);
}, 60_000);

afterAll(async () => {
  await killAllPoolers();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await handle?.close();
  await scratch?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Sequential: each case builds on the prices the previous ones imported.
describe('codex-pooler pricing', () => {
  test('import FILE stores the feed; importing it again changes nothing', async () => {
    const first = await pricing('import', 'priv/pricing/openai/pricing.json');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(`^imported pricing 2026-08-21T21:41:01\\.660811Z:importer-format-2 from priv/pricing/openai/pricing\\.json: ${vendoredTotal} inserted, 0 updated, 0 unchanged \\(${vendoredTotal} prices for \\d+ models; \\d+ models skipped as not priced per token\\)\\n$`),
    );
    expect(await snapshotCount()).toBe(vendoredTotal);

    const second = await pricing('import', 'priv/pricing/openai/pricing.json', '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ inserted: 0, updated: 0, unchanged: vendoredTotal, total: vendoredTotal, price_version: '2026-08-21T21:41:01.660811Z:importer-format-2' });
    expect(await snapshotCount()).toBe(vendoredTotal);
  });

  test('show MODEL --json: the resolved entry and its rates per tier, USD per 1M tokens', async () => {
    const result = await pricing('show', 'gpt-5.4', '--json');
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout);
    expect(shown).toMatchObject({ model: 'gpt-5.4', priced_model: 'gpt-5.4', matched_by: 'exact', currency: 'USD', unit: 'usd_per_1m_tokens', unpriced_tiers: [] });
    expect(shown.tiers.map((t: { tier: string }) => t.tier)).toEqual(['standard', 'flex', 'priority', 'batch']);
    expect(shown.tiers[0]).toMatchObject({
      tier: 'standard',
      bucket: 'default',
      input: 2.5,
      cached_input: 0.25,
      output: 15,
      reasoning: 15,
      reasoning_source: 'output_fallback',
      long_context: { bucket: 'long_context', input: 5, cached_input: 0.5, output: 22.5 },
    });
    expect(shown.tiers[2]).toMatchObject({ tier: 'priority', input: 5, cached_input: 0.5, output: 30, long_context: null });
    expect(shown.tiers[0].snapshot_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('show resolves a dated snapshot to its base model and can be limited to one tier', async () => {
    const dated = await pricing('show', 'gpt-5.4-2099-01-01', '--tier', 'default', '--json');
    expect(dated.code).toBe(0);
    expect(JSON.parse(dated.stdout)).toMatchObject({ model: 'gpt-5.4-2099-01-01', priced_model: 'gpt-5.4', matched_by: 'suffix', tiers: [{ tier: 'standard', input: 2.5 }] });

    const text = await pricing('show', 'gpt-5.4', '--tier', 'priority');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('gpt-5.4: priced as gpt-5.4 (exact match)');
    expect(text.stdout).toContain('rates in USD per 1M tokens');
    expect(text.stdout).toMatch(/^priority\s+default\s+5\s+0\.5\s+30\s+30 \(output rate\)/m);
  });

  test('an unpriced model or tier: exit 1 with the unpriced note', async () => {
    const unknown = await pricing('show', 'no-such-model-xyz', '--json');
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(stderrLine(unknown.stderr)).toEqual(['codex-pooler: no-such-model-xyz has no price; requests are recorded with usage and an explicit unpriced flag']);

    const tier = await pricing('show', 'chat-latest', '--tier', 'flex');
    expect(tier.code).toBe(1);
    expect(tier.stderr).toMatch(/^codex-pooler: chat-latest has no price in the flex tier \(priced tiers: standard\); requests are recorded with usage/);
  });

  test('a bad feed file or a missing one: exit 1, nothing stored', async () => {
    const before = await snapshotCount();
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ format: 'codex-pooler-pricing-feed', format_revision: 1, unit: 'usd_per_1m_tokens', generated_at: '2027-01-01T00:00:00Z', models: 'none' }));
    const result = await pricing('import', bad);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(stderrLine(result.stderr)).toEqual([expect.stringMatching(/^codex-pooler: cannot import pricing from .*bad\.json: pricing feed field \S+: .*\[incompatible_pricing_catalog\]; nothing was stored$/)]);

    const notJson = join(dir, 'not.json');
    await writeFile(notJson, 'not json at all');
    expect((await pricing('import', notJson)).stderr).toMatch(/pricing feed is not valid JSON/);

    const missing = await pricing('import', join(dir, 'missing.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^codex-pooler: cannot read .*missing\.json: no such file/);
    expect(await snapshotCount()).toBe(before);
  });

  test('import URL: the public catalog over HTTP; an unreachable URL or an HTTP error stores nothing', async () => {
    const before = await snapshotCount();
    const imported = await pricing('import', `${baseUrl}/pricing.json`);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/: 2 inserted, 0 updated, 0 unchanged \(2 prices for 1 models;/);
    const shown = JSON.parse((await pricing('show', 'cxp-url-model', '--json')).stdout);
    expect(shown.tiers).toMatchObject([
      { tier: 'standard', input: 1.5, cached_input: 0.15, output: 6, reasoning: 6, reasoning_source: 'output_fallback' },
      { tier: 'priority', input: 3, cached_input: 0, output: 12, reasoning: 20, reasoning_source: 'catalog' },
    ]);

    const notFound = await pricing('import', `${baseUrl}/missing.json`);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/^codex-pooler: cannot import pricing from http:\/\/127\.0\.0\.1:\d+\/missing\.json: pricing feed request failed with HTTP 404 \[http_error\]; nothing was stored/);
    // A port nothing listens on: taken from the system, then released.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = await pricing('import', `http://127.0.0.1:${port}/pricing.json`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(`codex-pooler: cannot import pricing from http://127.0.0.1:${port}/pricing.json: pricing feed request failed: fetch failed (ECONNREFUSED) [fetch_failed]; nothing was stored\n`);
    expect(await snapshotCount()).toBe(before + 2);
  });

  test('list --json: every priced model with its default rates per tier', async () => {
    const result = await pricing('list', '--json');
    expect(result.code).toBe(0);
    const list = JSON.parse(result.stdout) as { model: string; tiers: Record<string, unknown> }[];
    expect(list.find((m) => m.model === 'gpt-5.4')?.tiers).toMatchObject({ standard: { input: 2.5, cached_input: 0.25, output: 15 }, priority: { input: 5, output: 30 } });
    expect(list.find((m) => m.model === 'cxp-url-model')).toBeDefined();
    const text = await pricing('list');
    expect(text.stdout).toMatch(/^MODEL\s+INPUT\s+CACHED INPUT\s+OUTPUT\s+TIERS$/m);
    expect(text.stdout).toMatch(/^gpt-5\.4\s+2\.5\s+0\.25\s+15\s+standard,flex,priority,batch$/m);
  });
});
