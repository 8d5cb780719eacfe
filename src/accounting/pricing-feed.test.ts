import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../db/index.ts';
import {
  canonicalServiceTier,
  costMicros,
  fetchPricingFeed,
  formatPricingFeed,
  importPricingFeed,
  loadVendoredPricingFeed,
  modelCandidates,
  parsePricingFeed,
  PricingFeedError,
  resolvePrice,
  VENDORED_PRICING_FEED,
  type PricingFeed,
  type PricingFeedModel,
} from './index.ts';

const rates = (input: number, output: number, cached: number | null = null) => ({ input, cached_input: cached, cache_write: null, output, reasoning: null });

/** A public-catalog document (spec §7.1 shape) around the given models. */
function catalog(models: Record<string, { prices: unknown; pricing_type?: string; model?: string }>, extra: Record<string, unknown> = {}) {
  const entries = Object.fromEntries(
    Object.entries(models).map(([id, m]) => [
      id,
      { categories: ['language_model'], category: 'language_model', model: m.model ?? id, prices: m.prices, pricing_type: m.pricing_type ?? 'per_1m_tokens', pricing_types: [m.pricing_type ?? 'per_1m_tokens'], timestamp: '2026-01-01T00:00:00Z' },
    ]),
  );
  return JSON.stringify({ generated_at: '2026-01-01T00:00:00Z', models: entries, models_count: Object.keys(entries).length, source: 'test', source_url: 'https://example.test/pricing', tools: {}, tools_count: 0, ...extra });
}

function feedOf(models: PricingFeedModel[], generatedAt = '2026-01-01T00:00:00Z'): PricingFeed {
  return { format: 'codex-pooler-pricing-feed', format_revision: 1, unit: 'usd_per_1m_tokens', generated_at: generatedAt, source: 'test', source_url: null, models, skipped: [] };
}

function model(id: string, tiers: PricingFeedModel['tiers'], aliases: string[] = []): PricingFeedModel {
  return { model: id, aliases, category: 'language_model', categories: ['language_model'], pricing_type: 'per_1m_tokens', tiers };
}

function parseError(text: string): PricingFeedError {
  try {
    parsePricingFeed(text);
  } catch (error) {
    if (error instanceof PricingFeedError) return error;
    throw error;
  }
  throw new Error('expected parsePricingFeed to throw');
}

describe('parsePricingFeed', () => {
  test('the vendored feed parses and re-serializes byte for byte', async () => {
    const text = await readFile(VENDORED_PRICING_FEED, 'utf8');
    const feed = parsePricingFeed(text);
    expect(formatPricingFeed(feed)).toBe(text);
    expect(feed.models.find((m) => m.model === 'gpt-5.4')?.tiers.standard?.default).toEqual(rates(2.5, 15, 0.25));
  });

  test('normalizes the public catalog per the import rules', () => {
    const feed = parsePricingFeed(
      catalog({
        'GPT-X': { model: 'gpt-x', prices: { fast: { default: { input: 2, output: 8 } }, standard: { default: { input: 1, output: 4, cached_input: 0.1 }, inference: { input: 9, training: 3 }, long_context: { available: false } } } },
        'embed-x': { prices: { standard: { default: { input: 0.02 } } } },
        'audio-x': { pricing_type: 'per_minute', prices: { standard: { transcription: { estimated_cost: 0.006 } } } },
      }),
    );
    expect(feed.models).toEqual([model('gpt-x', { priority: { default: rates(2, 8) }, standard: { default: rates(1, 4, 0.1), long_context: { available: false } } })]);
    expect(feed.skipped).toEqual([
      { model: 'audio-x', pricing_type: 'per_minute', reason: 'unsupported_pricing_type' },
      { model: 'embed-x', pricing_type: 'per_1m_tokens', reason: 'input_only' },
    ]);
  });

  test.each([
    ['not JSON', '{', 'incompatible_pricing_catalog', null],
    ['count mismatch', catalog({ a: { prices: {} } }, { models_count: 2 }), 'incompatible_pricing_catalog', 'models_count'],
    ['missing output', catalog({ a: { prices: { flex: { default: { input: 1 } } } } }), 'incompatible_pricing_catalog', 'models.a.prices.flex.default.output'],
    ['unknown rate key', catalog({ a: { prices: { standard: { default: { input: 1, output: 2, bogus: 3 } } } } }), 'incompatible_pricing_catalog', 'models.a.prices.standard.default'],
    ['negative rate', catalog({ a: { prices: { standard: { default: { input: -1, output: 2 } } } } }), 'incompatible_pricing_catalog', 'models.a.prices.standard.default.input'],
    ['model differs from key', catalog({ a: { model: 'b', prices: {} } }), 'incompatible_pricing_catalog', 'models.a.model'],
    ['fast and priority both given', catalog({ a: { prices: { fast: { default: { input: 1, output: 2 } }, priority: { default: { input: 1, output: 2 } } } } }), 'conflicting_service_tier_alias', 'models.a.prices.priority'],
    ['missing top-level key', JSON.stringify({ generated_at: '2026-01-01T00:00:00Z', models: {} }), 'incompatible_pricing_catalog', 'models_count'],
    ['string rate in feed', JSON.stringify(feedOf([model('m', { standard: { default: { ...rates(1, 2), input: '1' as unknown as number } } })])), 'incompatible_pricing_catalog', 'models[0].tiers.standard.default.input'],
    ['duplicate model in feed', JSON.stringify(feedOf([model('m', {}), model('n', {}, ['m'])])), 'incompatible_pricing_catalog', 'models[1]'],
  ])('rejects %s', (_name, text, code, field) => {
    const error = parseError(text);
    expect(error.code).toBe(code);
    expect(error.field).toBe(field);
    if (field) expect(error.message).toContain(field);
  });
});

describe('price resolution rules', () => {
  test.each([
    ['gpt-5.4', ['gpt-5.4', 'gpt']],
    ['gpt-5.4-2026-03-05', ['gpt-5.4-2026-03-05', 'gpt-5.4-2026-03', 'gpt-5.4-2026', 'gpt-5.4', 'gpt']],
    ['gpt-5.1-codex-max', ['gpt-5.1-codex-max', 'gpt-5.1-codex']],
    ['GPT-5-Mini', ['gpt-5-mini', 'gpt-5', 'gpt']],
    ['bad--name', ['bad--name']],
    ['  ', []],
  ])('modelCandidates(%j)', (input, want) => expect(modelCandidates(input)).toEqual(want));

  test.each([
    [null, { tier: 'standard' }],
    ['default', { tier: 'standard' }],
    ['Standard', { tier: 'standard' }],
    ['fast', { tier: 'priority' }],
    ['priority', { tier: 'priority' }],
    ['flex', { tier: 'flex' }],
    ['batch', { tier: 'batch' }],
    ['auto', { status: 'unpriced_auto_tier' }],
    ['scale', { status: 'unpriced_unsupported_tier' }],
  ])('canonicalServiceTier(%j)', (input, want) => expect(canonicalServiceTier(input)).toEqual(want));

  const price = { inputMicros: 2.5, cachedInputMicros: 0.25, cacheWriteMicros: null, outputMicros: 15, reasoningMicros: 15, requestBaseMicros: 0 };
  test('cost bills cached and reasoning tokens as subsets of input and output', () => {
    // 800 fresh input, 200 cached, 500 output of which 100 reasoning.
    expect(costMicros(price, { inputTokens: 1000, cachedInputTokens: 200, outputTokens: 500, reasoningTokens: 100 })).toBe(800 * 2.5 + 200 * 0.25 + 400 * 15 + 100 * 15);
  });
  test('cost clamps inconsistent usage instead of going negative', () => {
    expect(costMicros(price, { inputTokens: 10, cachedInputTokens: 50, outputTokens: 0, reasoningTokens: 7 })).toBe(10 * 0.25);
  });
  test('cache writes need a published rate', () => {
    expect(costMicros(price, { inputTokens: 10, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0, cacheWriteTokens: 5 })).toBeNull();
    expect(costMicros({ ...price, cacheWriteMicros: 3 }, { inputTokens: 10, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0, cacheWriteTokens: 4 })).toBe(6 * 2.5 + 4 * 3);
  });
});

describe('fetchPricingFeed', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const body = catalog({ m: { prices: { standard: { default: { input: 1, output: 2 } } } } });
    server = createServer((req, res) => {
      if (req.url === '/ok') res.end(body);
      else if (req.url === '/slow') setTimeout(() => res.end(body), 2_000).unref();
      else res.writeHead(503).end('down');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('parses a served catalog', async () => {
    expect((await fetchPricingFeed(`${base}/ok`, { timeoutMs: 5_000 })).models.map((m) => m.model)).toEqual(['m']);
  });
  test.each([
    ['/down', 'http_error'],
    ['/slow', 'fetch_timeout'],
  ])('fails fast on %s', async (path, code) => {
    await expect(fetchPricingFeed(`${base}${path}`, { timeoutMs: 200 })).rejects.toMatchObject({ name: 'PricingFeedError', code });
  });
  test('reports an unreachable host', async () => {
    await expect(fetchPricingFeed('http://127.0.0.1:1/pricing.json', { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'fetch_failed' });
  });
});

describe('pricing_snapshots', () => {
  let handle: DatabaseHandle;
  const suffix = randomBytes(4).toString('hex');
  const now = new Date('2026-11-01T00:00:00Z');

  beforeAll(async () => {
    handle = await openDatabase({ kind: 'postgres', url: inject('databaseUrl'), poolSize: 2, ipv6: false }, { onError: () => {} });
  });
  afterAll(async () => {
    await handle?.close();
  });

  const rowsFor = (id: string) =>
    handle.db.selectFrom('pricing_snapshots').selectAll().where('model_identifier', '=', id).orderBy('service_tier').orderBy('price_bucket').execute();

  test('importing the vendored feed twice writes nothing the second time', async () => {
    const feed = await loadVendoredPricingFeed();
    const first = await importPricingFeed(handle.db, feed, { sourceUrl: null, now });
    expect(first.total).toBeGreaterThan(100);
    expect(first.inserted + first.unchanged).toBe(first.total);
    expect(first.updated).toBe(0);
    const second = await importPricingFeed(handle.db, feed, { sourceUrl: 'https://example.test/pricing.json', now: new Date() });
    expect(second).toEqual({ inserted: 0, updated: 0, unchanged: first.total, total: first.total, priceVersion: '2026-08-21T21:41:01.660811Z:importer-format-2' });

    const dated = await resolvePrice(handle.db, 'gpt-5.4-2026-03-05', null, { now });
    expect(dated).toMatchObject({ pricedModel: 'gpt-5.4', matchedBy: 'suffix', serviceTier: 'standard', priceBucket: 'default', inputMicros: 2.5, cachedInputMicros: 0.25, outputMicros: 15, reasoningMicros: 15 });
    expect(await resolvePrice(handle.db, 'gpt-5.4', 'fast', { now })).toMatchObject({ matchedBy: 'exact', serviceTier: 'priority', inputMicros: 5 });
    expect(await resolvePrice(handle.db, 'gpt-5.4', 'default', { now, estimatedInputTokens: 300_000 })).toMatchObject({ priceBucket: 'long_context', inputMicros: 5 });
    // Priority has an explicit "unavailable" marker for long context: unpriced, not the default rate.
    expect(await resolvePrice(handle.db, 'gpt-5.4', 'priority', { now, estimatedInputTokens: 300_000 })).toBeNull();
    // A known model without the tier stays unpriced rather than borrowing its base model's price.
    expect(await resolvePrice(handle.db, 'gpt-5-nano', 'priority', { now })).toBeNull();
    expect(await resolvePrice(handle.db, `no-such-model-${suffix}`, null, { now })).toBeNull();
    expect(await resolvePrice(handle.db, 'gpt-5.4', 'auto', { now })).toBeNull();
  });

  test('changed rates update only the changed rows; unchanged rows keep updated_at', async () => {
    const id = `test-model-${suffix}`;
    const base = { standard: { default: rates(1, 4, 0.5), long_context: rates(2, 8) } };
    const first = await importPricingFeed(handle.db, feedOf([model(id, base, [`alias-${suffix}`])]), { sourceUrl: null, now });
    expect(first).toMatchObject({ inserted: 4, updated: 0, unchanged: 0 });
    const before = await rowsFor(id);

    const later = new Date(now.getTime() + 60_000);
    const changed = { standard: { default: rates(1, 5, 0.5), long_context: rates(2, 8) } };
    const second = await importPricingFeed(handle.db, feedOf([model(id, changed, [`alias-${suffix}`])]), { sourceUrl: null, now: later });
    expect(second).toMatchObject({ inserted: 0, updated: 2, unchanged: 2 });
    const after = await rowsFor(id);
    expect(after.map((r) => [r.price_bucket, r.output_token_micros, r.updated_at.getTime()])).toEqual([
      ['default', '5', later.getTime()],
      ['long_context', '8', before[1]!.updated_at.getTime()],
    ]);

    expect(await resolvePrice(handle.db, `alias-${suffix}`, 'standard', { now: later })).toMatchObject({ pricedModel: `alias-${suffix}`, matchedBy: 'alias', outputMicros: 5 });
    expect(await resolvePrice(handle.db, `${id}-2026-03-05`, null, { now: later })).toMatchObject({ pricedModel: id, matchedBy: 'suffix' });
    expect(await resolvePrice(handle.db, id, 'flex', { now: later })).toBeNull();
    // Prices take effect at the feed's generated_at, never before.
    expect(await resolvePrice(handle.db, id, null, { now: new Date('2025-12-31T00:00:00Z') })).toBeNull();
  });

  test('a malformed feed throws and stores nothing', async () => {
    const id = `test-bad-${suffix}`;
    const feed = feedOf([model(id, { standard: { default: rates(1, 2) } }), model(`${id}-neg`, { standard: { default: rates(-1, 2) } })]);
    await expect(importPricingFeed(handle.db, feed, { sourceUrl: null, now })).rejects.toMatchObject({ code: 'incompatible_pricing_catalog', field: 'models[1].tiers.standard.default.input' });
    expect(await rowsFor(id)).toEqual([]);
    expect(() => parsePricingFeed(JSON.stringify({ ...feed, format_revision: 9 }))).toThrow(/format_revision/);
  });
});
