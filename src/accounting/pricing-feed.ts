/**
 * Token pricing: the feed format, its importer into `pricing_snapshots`, and price resolution (spec §7).
 *
 * Two inputs are accepted by `parsePricingFeed`:
 * - the public openai-json-pricing catalog (spec §7.1 shape, what the hourly job fetches), normalized here;
 * - the project's vendored feed `priv/pricing/openai/pricing.json` (`format: codex-pooler-pricing-feed`),
 *   which is that normalization written out by `scripts/build-pricing-feed.ts`.
 *
 * Feed format, revision 1 (all rates in USD per 1M tokens, which equals the stored micro-USD per token):
 *   { format, format_revision: 1, unit: "usd_per_1m_tokens", generated_at (the catalog's), source, source_url,
 *     models: [{ model, aliases[], category, categories[], pricing_type: "per_1m_tokens",
 *                tiers: { <standard|flex|priority|batch|…>: { <default|short_context|long_context>:
 *                  { input, cached_input|null, cache_write|null, output, reasoning|null } | { available: false } } } }],
 *     skipped: [{ model, pricing_type, reason }] }
 * `null` means "not published": the importer then applies the spec defaults (cached 0, reasoning = output).
 */
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import { z } from 'zod';
import { jsonb, type Db } from '../db/index.ts';
import type { PricingSnapshotTable } from './pricing.table.ts';

export type PricingFeedErrorCode =
  | 'incompatible_pricing_catalog'
  | 'conflicting_service_tier_alias'
  | 'feed_unreadable'
  | 'feed_too_large'
  | 'http_error'
  | 'fetch_timeout'
  | 'fetch_failed';

export class PricingFeedError extends Error {
  readonly code: PricingFeedErrorCode;
  /** Dotted path of the offending field, when one is to blame. */
  readonly field: string | null;
  constructor(code: PricingFeedErrorCode, message: string, options: { field?: string | null; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PricingFeedError';
    this.code = code;
    this.field = options.field ?? null;
  }
}

export const PRICING_FEED_FORMAT = 'codex-pooler-pricing-feed';
export const PRICING_FEED_FORMAT_REVISION = 1;
/** Spec §7.1: price_version suffix, stored revision and config.source. */
export const IMPORTER_FORMAT_REVISION = 2;
export const PRICING_SOURCE = 'openai-json-pricing';
export const PRICE_BUCKETS = ['default', 'short_context', 'long_context'] as const;
export const LONG_CONTEXT_INPUT_TOKENS = 272_000;
// The public catalog is ~64 KB; the cap only stops a misconfigured URL from filling memory.
const MAX_FEED_BYTES = 8 * 1024 * 1024;

const rate = z.number().nonnegative();
const modelId = z.string().regex(/^[a-z0-9][a-z0-9._:-]*$/, 'expected a lowercase model identifier');
const unavailable = z.strictObject({ available: z.literal(false) });
const feedRates = z.strictObject({
  input: rate,
  cached_input: rate.nullable(),
  cache_write: rate.nullable(),
  output: rate,
  reasoning: rate.nullable(),
});
const feedModel = z.strictObject({
  model: modelId,
  aliases: z.array(modelId),
  category: z.string(),
  categories: z.array(z.string()),
  pricing_type: z.literal('per_1m_tokens'),
  tiers: z.record(
    z.string().regex(/^[a-z][a-z0-9_]*$/).refine((t) => t !== 'fast', 'write "fast" as "priority"'),
    z.partialRecord(z.enum(PRICE_BUCKETS), z.union([unavailable, feedRates])),
  ),
});
const feedSchema = z
  .strictObject({
    format: z.literal(PRICING_FEED_FORMAT),
    format_revision: z.literal(PRICING_FEED_FORMAT_REVISION),
    unit: z.literal('usd_per_1m_tokens'),
    generated_at: z.iso.datetime({ offset: true }),
    source: z.string().min(1),
    source_url: z.url().nullable(),
    models: z.array(feedModel),
    skipped: z.array(z.strictObject({ model: z.string(), pricing_type: z.string(), reason: z.string() })),
  })
  .superRefine((feed, ctx) => {
    const seen = new Set<string>();
    feed.models.forEach((m, i) => {
      for (const id of [m.model, ...m.aliases]) {
        if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['models', i], message: `duplicate model identifier "${id}"` });
        seen.add(id);
      }
    });
  });

export type PricingFeed = z.infer<typeof feedSchema>;
export type PricingFeedModel = PricingFeed['models'][number];
export type FeedRates = z.infer<typeof feedRates>;

// The public catalog (spec §7.1, exact keys). Buckets we never price carry other keys, so they stay loose here.
const catalogSchema = z.strictObject({
  generated_at: z.iso.datetime({ offset: true }),
  models: z.record(
    z.string(),
    z.strictObject({
      categories: z.array(z.string()),
      category: z.string(),
      model: z.string().min(1),
      prices: z.union([unavailable, z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown())))]),
      pricing_type: z.string(),
      pricing_types: z.array(z.string()),
      timestamp: z.string(),
    }),
  ),
  models_count: z.number().int(),
  source: z.string(),
  source_url: z.string(),
  tools: z.record(z.string(), z.strictObject({ details: z.string(), price: z.number(), pricing: z.string(), tool: z.string() })),
  tools_count: z.number().int(),
});
const catalogRates = z.strictObject({
  input: rate.optional(),
  cached_input: rate.optional(),
  cache_write: rate.optional(),
  output: rate.optional(),
  reasoning: rate.optional(),
});

/** Parses either the vendored feed or the public catalog; throws PricingFeedError naming the bad field. */
export function parsePricingFeed(text: string): PricingFeed {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PricingFeedError('incompatible_pricing_catalog', 'pricing feed is not valid JSON', { cause: error });
  }
  const isFeed = typeof json === 'object' && json !== null && 'format' in json;
  return isFeed ? checkFeed(json) : catalogToFeed(check(catalogSchema, json));
}

/** Vendored layout: two-space indent, each rate bucket and string list on one line (readable diffs). */
export const formatPricingFeed = (feed: PricingFeed): string =>
  // JSON strings cannot hold raw newlines, so folding "\n + indent" inside leaf objects only touches layout.
  `${JSON.stringify(feed, null, 2).replace(/\{[^{}[\]]*\}|\[[^{}[\]]*\]/g, (leaf) => leaf.replace(/\n\s*/g, ' '))}\n`;

function checkFeed(value: unknown): PricingFeed {
  return check(feedSchema, value);
}

function check<T>(schema: z.ZodType<T>, value: unknown, prefix: PropertyKey[] = []): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { path, message } = leafIssue(result.error.issues[0]!, prefix);
  const field = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') || '(root)';
  throw incompatible(field, message);
}

/** Union failures nest per branch; report the branch that came closest (fewest issues). */
function leafIssue(issue: z.core.$ZodIssue, prefix: PropertyKey[]): { path: PropertyKey[]; message: string } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { path, message: issue.message };
  const best = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
  return best[0] ? leafIssue(best[0], path) : { path, message: issue.message };
}

function incompatible(field: string, message: string): PricingFeedError {
  return new PricingFeedError('incompatible_pricing_catalog', `pricing feed field ${field}: ${message}`, { field });
}

/** Spec §7.1 import rules applied to the public catalog: keep only per-1M-token buckets we can price. */
function catalogToFeed(catalog: z.infer<typeof catalogSchema>): PricingFeed {
  if (catalog.models_count !== Object.keys(catalog.models).length) throw incompatible('models_count', 'does not match the number of models');
  if (catalog.tools_count !== Object.keys(catalog.tools).length) throw incompatible('tools_count', 'does not match the number of tools');
  const models: PricingFeedModel[] = [];
  const skipped: PricingFeed['skipped'] = [];
  const ids = new Set<string>();
  for (const [key, entry] of Object.entries(catalog.models)) {
    const id = key.trim().toLowerCase();
    if (entry.model.trim().toLowerCase() !== id) throw incompatible(`models.${key}.model`, `"${entry.model}" does not match its key`);
    if (ids.has(id)) throw incompatible(`models.${key}`, 'duplicates another model once lowercased');
    ids.add(id);
    const skip = (reason: string) => skipped.push({ model: id, pricing_type: entry.pricing_type, reason });
    if (entry.pricing_type !== 'per_1m_tokens') skip('unsupported_pricing_type');
    else if ('available' in entry.prices) skip('unavailable');
    else {
      const { tiers, inputOnly } = catalogTiers(key, entry.prices as Record<string, Record<string, Record<string, unknown>>>);
      if (Object.keys(tiers).length > 0) {
        models.push({ model: id, aliases: [], category: entry.category, categories: entry.categories, pricing_type: 'per_1m_tokens', tiers });
      } else skip(inputOnly ? 'input_only' : 'no_token_buckets');
    }
  }
  return checkFeed({
    format: PRICING_FEED_FORMAT,
    format_revision: PRICING_FEED_FORMAT_REVISION,
    unit: 'usd_per_1m_tokens',
    generated_at: catalog.generated_at,
    source: catalog.source,
    source_url: catalog.source_url,
    models: models.sort((a, b) => (a.model < b.model ? -1 : 1)),
    skipped: skipped.sort((a, b) => (a.model < b.model ? -1 : 1)),
  });
}

function catalogTiers(key: string, prices: Record<string, Record<string, Record<string, unknown>>>) {
  const tiers: PricingFeedModel['tiers'] = {};
  const rawNames = new Map<string, string>();
  let inputOnly = false;
  for (const [rawTier, buckets] of Object.entries(prices)) {
    const tier = rawTier.trim().toLowerCase() === 'fast' ? 'priority' : rawTier.trim().toLowerCase();
    const other = rawNames.get(tier);
    if (other !== undefined) {
      const field = `models.${key}.prices.${rawTier}`;
      throw new PricingFeedError('conflicting_service_tier_alias', `pricing feed field ${field}: "${other}" and "${rawTier}" both name the ${tier} tier`, { field });
    }
    rawNames.set(tier, rawTier);
    const out: PricingFeedModel['tiers'][string] = {};
    for (const bucket of PRICE_BUCKETS) {
      const raw = buckets[bucket];
      const field = `models.${key}.prices.${rawTier}.${bucket}`;
      if (raw === undefined) continue;
      if (raw.available === false && Object.keys(raw).length === 1) {
        out[bucket] = { available: false };
        continue;
      }
      const r = check(catalogRates, raw, ['models', key, 'prices', rawTier, bucket]);
      if (tier === 'standard' && bucket === 'default' && r.output === undefined && r.input !== undefined && Object.keys(r).length === 1) {
        inputOnly = true; // embeddings and moderation: input-only prices are skipped by the spec
        continue;
      }
      if (r.input === undefined) throw incompatible(`${field}.input`, 'a priced bucket needs an input rate');
      if (r.output === undefined) throw incompatible(`${field}.output`, 'a priced bucket needs an output rate');
      out[bucket] = { input: r.input, cached_input: r.cached_input ?? null, cache_write: r.cache_write ?? null, output: r.output, reasoning: r.reasoning ?? null };
    }
    if (Object.keys(out).length > 0) tiers[tier] = out;
  }
  return { tiers, inputOnly };
}

export async function loadPricingFeedFile(path: string | URL): Promise<PricingFeed> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PricingFeedError('feed_unreadable', `cannot read pricing feed ${String(path)}: ${(error as Error).message}`, { cause: error });
  }
  return parsePricingFeed(text);
}

export const VENDORED_PRICING_FEED = new URL('../../priv/pricing/openai/pricing.json', import.meta.url);
export const loadVendoredPricingFeed = (): Promise<PricingFeed> => loadPricingFeedFile(VENDORED_PRICING_FEED);

/** One GET with a hard deadline covering headers and body; no retry (the hourly job is the retry). */
export async function fetchPricingFeed(url: string, opts: { timeoutMs: number }): Promise<PricingFeed> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
    if (!res.ok) {
      await res.body?.cancel();
      throw new PricingFeedError('http_error', `pricing feed request failed with HTTP ${res.status}`);
    }
    return parsePricingFeed(await readBounded(res));
  } catch (error) {
    if (error instanceof PricingFeedError) throw error;
    if (signal.aborted) throw new PricingFeedError('fetch_timeout', `pricing feed request timed out after ${opts.timeoutMs} ms`, { cause: error });
    throw new PricingFeedError('fetch_failed', `pricing feed request failed: ${(error as Error).message}`, { cause: error });
  }
}

async function readBounded(res: Response): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_FEED_BYTES) throw new PricingFeedError('feed_too_large', `pricing feed exceeds ${MAX_FEED_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export type PricingImportResult = { inserted: number; updated: number; unchanged: number; total: number; priceVersion: string };

type SnapshotValues = Pick<
  PricingSnapshotTable,
  'input_token_micros' | 'cached_input_token_micros' | 'cache_write_token_micros' | 'output_token_micros' | 'reasoning_token_micros' | 'request_base_micros'
> & { model_identifier: string; service_tier: string; price_bucket: string; config: Record<string, unknown> };

const RATE_COLUMNS = [
  'input_token_micros',
  'cached_input_token_micros',
  'cache_write_token_micros',
  'output_token_micros',
  'reasoning_token_micros',
  'request_base_micros',
] as const;

export const priceVersionOf = (feed: PricingFeed): string => `${feed.generated_at}:importer-format-${IMPORTER_FORMAT_REVISION}`;

/** Upserts one row per (model, price_version, tier, bucket, revision); re-importing the same feed writes nothing. */
export async function importPricingFeed(db: Db, feed: PricingFeed, opts: { sourceUrl: string | null; now: Date }): Promise<PricingImportResult> {
  const checked = checkFeed(feed); // the type can be built by hand: validate before touching the table
  const priceVersion = priceVersionOf(checked);
  const effectiveAt = new Date(checked.generated_at);
  const rows = snapshotValues(checked);
  return db.transaction().execute(async (tx) => {
    // Serializes concurrent importers (hourly job, CLI, migration) so the read-compare-write below is race free.
    await sql`select pg_advisory_xact_lock(hashtext('codex_pooler.pricing_import'))`.execute(tx);
    const existing = await tx
      .selectFrom('pricing_snapshots')
      .selectAll()
      .where('price_version', '=', priceVersion)
      .where('revision', '=', IMPORTER_FORMAT_REVISION)
      .execute();
    const byIdentity = new Map(existing.map((r) => [identity(r), r]));
    const result: PricingImportResult = { inserted: 0, updated: 0, unchanged: 0, total: rows.length, priceVersion };
    const inserts = [];
    for (const row of rows) {
      const current = byIdentity.get(identity(row));
      const values = { ...row, config: jsonb(row.config), effective_at: effectiveAt, source_url: opts.sourceUrl };
      if (!current) {
        inserts.push({ ...values, price_version: priceVersion, revision: IMPORTER_FORMAT_REVISION, captured_at: opts.now, created_at: opts.now, updated_at: opts.now });
        result.inserted += 1;
      } else if (sameSnapshot(current, row, effectiveAt)) {
        result.unchanged += 1;
      } else {
        await tx.updateTable('pricing_snapshots').set({ ...values, captured_at: opts.now, updated_at: opts.now }).where('id', '=', current.id).execute();
        result.updated += 1;
      }
    }
    for (let i = 0; i < inserts.length; i += 500) await tx.insertInto('pricing_snapshots').values(inserts.slice(i, i + 500)).execute();
    return result;
  });
}

const identity = (r: { model_identifier: string; service_tier: string; price_bucket: string }) =>
  `${r.model_identifier.toLowerCase()}\u0000${r.service_tier}\u0000${r.price_bucket}`;

// source_url and capture time are provenance, not price facts: a re-import from another source is "unchanged".
function sameSnapshot(current: { effective_at: Date | null; config: Record<string, unknown> } & Record<(typeof RATE_COLUMNS)[number], string | null>, row: SnapshotValues, effectiveAt: Date): boolean {
  const sameRate = (a: string | null, b: string | null) => a === b || (a !== null && b !== null && Number(a) === Number(b));
  return (
    RATE_COLUMNS.every((c) => sameRate(current[c], row[c])) &&
    current.effective_at?.getTime() === effectiveAt.getTime() &&
    stableJson(current.config) === stableJson(row.config)
  );
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** USD per 1M tokens is micro-USD per token; numerics travel as plain decimal strings (never exponent form). */
const decimal = (n: number | null): string | null => (n === null ? null : /e/i.test(String(n)) ? n.toFixed(20).replace(/\.?0+$/, '') : String(n));

export function snapshotValues(feed: PricingFeed): SnapshotValues[] {
  const rows: SnapshotValues[] = [];
  for (const m of feed.models) {
    for (const [tier, buckets] of Object.entries(m.tiers)) {
      for (const [bucket, rates] of Object.entries(buckets) as [string, FeedRates | { available: false }][]) {
        const priced = !('available' in rates);
        const config: Record<string, unknown> = {
          source: PRICING_SOURCE,
          importer_format_revision: IMPORTER_FORMAT_REVISION,
          feed_format_revision: feed.format_revision,
          source_generated_at: feed.generated_at,
          service_tier: tier,
          price_bucket: bucket,
          pricing_type: m.pricing_type,
          category: m.category,
          categories: m.categories,
          availability: priced ? 'priced' : 'unavailable',
          ...(priced ? { reasoning_price_source: rates.reasoning === null ? 'output_fallback' : 'catalog' } : {}),
        };
        const base = {
          input_token_micros: priced ? decimal(rates.input) : null,
          cached_input_token_micros: priced ? decimal(rates.cached_input ?? 0) : null,
          cache_write_token_micros: priced ? decimal(rates.cache_write) : null,
          output_token_micros: priced ? decimal(rates.output) : null,
          reasoning_token_micros: priced ? decimal(rates.reasoning ?? rates.output) : null,
          request_base_micros: priced ? '0' : null,
          service_tier: tier,
          price_bucket: bucket,
        };
        rows.push({ ...base, model_identifier: m.model, config });
        for (const alias of m.aliases) rows.push({ ...base, model_identifier: alias, config: { ...config, alias_of: m.model } });
      }
    }
  }
  return rows;
}

export type ServiceTier = 'standard' | 'flex' | 'priority' | 'batch';
export type TierResolution = { tier: ServiceTier } | { status: 'unpriced_auto_tier' | 'unpriced_unsupported_tier' };

/** Spec §7.2: no tier, `default` and `standard` bill at standard; `fast` is the catalog's name for priority. */
export function canonicalServiceTier(tier: string | null): TierResolution {
  const t = (tier ?? '').trim().toLowerCase();
  if (t === '' || t === 'default' || t === 'standard') return { tier: 'standard' };
  if (t === 'flex' || t === 'batch') return { tier: t };
  if (t === 'priority' || t === 'fast') return { tier: 'priority' };
  return { status: t === 'auto' ? 'unpriced_auto_tier' : 'unpriced_unsupported_tier' };
}

const VERSION_SEGMENT = /^v?\d+(\.\d+)*$/;

/** The identifier, then prefixes dropping trailing version/date segments and at most one other segment. */
export function modelCandidates(model: string): string[] {
  const id = model.trim().toLowerCase();
  if (id === '') return [];
  const segments = id.split('-');
  if (segments.includes('')) return [id]; // malformed separators: exact match only
  const out = [id];
  let arbitraryDropped = false;
  while (segments.length > 1) {
    const last = segments.pop()!;
    if (!VERSION_SEGMENT.test(last)) {
      if (arbitraryDropped) break;
      arbitraryDropped = true;
    }
    out.push(segments.join('-'));
  }
  return out;
}

export type PriceRates = {
  inputMicros: number;
  cachedInputMicros: number;
  cacheWriteMicros: number | null;
  outputMicros: number;
  reasoningMicros: number;
  requestBaseMicros: number;
};

export type ResolvedPrice = PriceRates & {
  snapshotId: string;
  requestedModel: string;
  /** The identifier whose row priced the request (the base model for a dated snapshot). */
  pricedModel: string;
  matchedBy: 'exact' | 'alias' | 'suffix';
  serviceTier: ServiceTier;
  priceBucket: string;
  priceVersion: string;
  effectiveAt: Date;
};

/** Spec §7.2 lookup; null when unpriced (unknown model, tier or bucket, unavailable marker). Never guesses a price. */
export async function resolvePrice(
  db: Db,
  model: string,
  serviceTier: string | null,
  opts: { estimatedInputTokens?: number; now?: Date } = {},
): Promise<ResolvedPrice | null> {
  const tier = canonicalServiceTier(serviceTier);
  const candidates = modelCandidates(model);
  if (!('tier' in tier) || candidates.length === 0) return null;
  const bucket = (opts.estimatedInputTokens ?? 0) > LONG_CONTEXT_INPUT_TOKENS ? 'long_context' : 'default';
  const rows = await db
    .selectFrom('pricing_snapshots')
    .selectAll()
    .where((eb) => eb(eb.fn<string>('lower', [eb.ref('model_identifier')]), 'in', candidates))
    .where('effective_at', '<=', opts.now ?? new Date())
    .orderBy('effective_at', 'desc')
    .orderBy('revision', 'desc')
    .execute();
  // The first candidate the table knows decides: a known model missing a tier is unpriced, not re-priced as its base.
  const candidate = candidates.find((c) => rows.some((r) => r.model_identifier.toLowerCase() === c));
  if (candidate === undefined) return null;
  const latest = rows.find((r) => r.model_identifier.toLowerCase() === candidate)!;
  const version = rows.filter(
    (r) => r.model_identifier.toLowerCase() === candidate && r.price_version === latest.price_version && r.revision === latest.revision && r.service_tier === tier.tier,
  );
  const exact = version.find((r) => r.price_bucket === bucket);
  const isPriced = (r: (typeof rows)[number]) => r.config.availability !== 'unavailable' && r.input_token_micros !== null && r.output_token_micros !== null;
  const row = exact ? (isPriced(exact) ? exact : undefined) : version.find((r) => r.price_bucket === 'default' && isPriced(r));
  if (!row) return null;
  const num = (v: string | null) => (v === null ? 0 : Number(v));
  return {
    snapshotId: row.id,
    requestedModel: model,
    pricedModel: row.model_identifier,
    matchedBy: candidate !== candidates[0] ? 'suffix' : typeof row.config.alias_of === 'string' ? 'alias' : 'exact',
    serviceTier: tier.tier,
    priceBucket: row.price_bucket,
    priceVersion: row.price_version,
    effectiveAt: row.effective_at!,
    inputMicros: num(row.input_token_micros),
    cachedInputMicros: num(row.cached_input_token_micros),
    cacheWriteMicros: row.cache_write_token_micros === null ? null : Number(row.cache_write_token_micros),
    outputMicros: num(row.output_token_micros),
    reasoningMicros: row.reasoning_token_micros === null ? num(row.output_token_micros) : Number(row.reasoning_token_micros),
    requestBaseMicros: num(row.request_base_micros),
  };
}

export type TokenUsage = { inputTokens: number; cachedInputTokens: number; outputTokens: number; reasoningTokens: number; cacheWriteTokens?: number };

/**
 * Spec §7.2 cost in micro-USD: cached and reasoning tokens are subsets of input and output, billed at their own rate.
 * Null when cache writes were used but the model publishes no cache-write rate (`unpriced_missing_cache_write_rate`).
 */
export function costMicros(price: PriceRates, usage: TokenUsage): number | null {
  const cacheWrite = usage.cacheWriteTokens ?? 0;
  if (cacheWrite > 0 && price.cacheWriteMicros === null) return null;
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const input = Math.max(usage.inputTokens - cached - cacheWrite, 0);
  const reasoning = Math.min(usage.reasoningTokens, usage.outputTokens);
  const output = Math.max(usage.outputTokens - reasoning, 0);
  return (
    input * price.inputMicros +
    cached * price.cachedInputMicros +
    cacheWrite * (price.cacheWriteMicros ?? 0) +
    output * price.outputMicros +
    reasoning * price.reasoningMicros +
    price.requestBaseMicros
  );
}
