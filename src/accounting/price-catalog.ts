/**
 * Reading the price table the way operators ask about it: which entry prices a model (and how it
 * matched: exact, alias or dated-snapshot suffix), and its rates per service tier. Resolution itself
 * is `resolvePrice` (spec §7.2); this only asks it once per tier and context bucket.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { canonicalServiceTier, LONG_CONTEXT_INPUT_TOKENS, modelCandidates, resolvePrice, type ResolvedPrice, type ServiceTier } from './pricing-feed.ts';

/** Rates in micro-USD per token, which is USD per 1M tokens. */
export type Rates = {
  input: number;
  cachedInput: number;
  cacheWrite: number | null;
  output: number;
  reasoning: number;
  /** `catalog` when the feed publishes a reasoning rate; `output_fallback` bills reasoning at the output rate. */
  reasoningSource: 'catalog' | 'output_fallback';
};

export type TierPrice = {
  tier: ServiceTier;
  snapshotId: string;
  bucket: string;
  rates: Rates;
  /** A separate price for requests over 272,000 estimated input tokens, when the feed has one. */
  longContext: { snapshotId: string; bucket: string; rates: Rates } | null;
};

export type ModelPriceEntry = {
  requestedModel: string;
  /** The priced identifier (the base model when a dated snapshot matched by suffix). */
  pricedModel: string;
  matchedBy: ResolvedPrice['matchedBy'];
  aliasOf: string | null;
  priceVersion: string;
  effectiveAt: Date;
  /** Tiers with a price, standard first. */
  tiers: TierPrice[];
  /** Tiers the feed lists for the model that have no price (an unavailable marker). */
  unpricedTiers: string[];
};

const TIER_ORDER: readonly ServiceTier[] = ['standard', 'flex', 'priority', 'batch'];

type SnapshotRow = { id: string; service_tier: string; model_identifier: string; price_version: string; revision: number; config: Record<string, unknown> };

/** The rows `resolvePrice` would read from: the first known candidate identifier, its latest version. */
async function currentVersionRows(db: Db, model: string, now: Date): Promise<SnapshotRow[]> {
  const candidates = modelCandidates(model);
  if (candidates.length === 0) return [];
  const rows = await db
    .selectFrom('pricing_snapshots')
    .select(['id', 'service_tier', 'model_identifier', 'price_version', 'revision', 'config'])
    .where((eb) => eb(eb.fn<string>('lower', [eb.ref('model_identifier')]), 'in', candidates))
    .where('effective_at', '<=', now)
    .orderBy('effective_at', 'desc')
    .orderBy('revision', 'desc')
    .execute();
  const candidate = candidates.find((c) => rows.some((r) => r.model_identifier.toLowerCase() === c));
  if (candidate === undefined) return [];
  const latest = rows.find((r) => r.model_identifier.toLowerCase() === candidate)!;
  return rows.filter((r) => r.model_identifier.toLowerCase() === candidate && r.price_version === latest.price_version && r.revision === latest.revision);
}

const tierRank = (tier: string) => {
  const i = TIER_ORDER.indexOf(tier as ServiceTier);
  return i === -1 ? TIER_ORDER.length : i;
};

/**
 * The resolved entry of a model and its rates per tier, or null when the model has no price at all
 * (or none in the tier asked for): requests for it are recorded with usage and an unpriced flag.
 */
export async function describeModelPrice(db: Db, model: string, opts: { tier?: string | null; now?: Date } = {}): Promise<ModelPriceEntry | null> {
  const now = opts.now ?? new Date();
  const rows = await currentVersionRows(db, model, now);
  let tiers = [...new Set(rows.map((r) => r.service_tier))].sort((a, b) => tierRank(a) - tierRank(b) || (a < b ? -1 : 1));
  if (opts.tier !== undefined && opts.tier !== null) {
    const wanted = canonicalServiceTier(opts.tier);
    if (!('tier' in wanted)) return null;
    tiers = tiers.filter((t) => t === wanted.tier);
  }
  const priced: { tier: ServiceTier; standard: ResolvedPrice; long: ResolvedPrice | null }[] = [];
  const unpricedTiers: string[] = [];
  for (const tier of tiers) {
    const canonical = canonicalServiceTier(tier);
    const standard = 'tier' in canonical && canonical.tier === tier ? await resolvePrice(db, model, tier, { now }) : null;
    if (!standard) {
      unpricedTiers.push(tier);
      continue;
    }
    const long = await resolvePrice(db, model, tier, { now, estimatedInputTokens: LONG_CONTEXT_INPUT_TOKENS + 1 });
    priced.push({ tier: standard.serviceTier, standard, long: long && long.snapshotId !== standard.snapshotId ? long : null });
  }
  const first = priced[0]?.standard;
  if (!first) return null;
  const configs = new Map(rows.map((r) => [r.id, r.config]));
  const ratesOf = (p: ResolvedPrice): Rates => ({
    input: p.inputMicros,
    cachedInput: p.cachedInputMicros,
    cacheWrite: p.cacheWriteMicros,
    output: p.outputMicros,
    reasoning: p.reasoningMicros,
    reasoningSource: configs.get(p.snapshotId)?.reasoning_price_source === 'catalog' ? 'catalog' : 'output_fallback',
  });
  const aliasOf = configs.get(first.snapshotId)?.alias_of;
  return {
    requestedModel: model,
    pricedModel: first.pricedModel,
    matchedBy: first.matchedBy,
    aliasOf: typeof aliasOf === 'string' ? aliasOf : null,
    priceVersion: first.priceVersion,
    effectiveAt: first.effectiveAt,
    tiers: priced.map(({ tier, standard, long }) => ({
      tier,
      snapshotId: standard.snapshotId,
      bucket: standard.priceBucket,
      rates: ratesOf(standard),
      longContext: long ? { snapshotId: long.snapshotId, bucket: long.priceBucket, rates: ratesOf(long) } : null,
    })),
    unpricedTiers,
  };
}

export type ModelPriceListing = {
  model: string;
  aliasOf: string | null;
  priceVersion: string;
  effectiveAt: Date | null;
  /** Default-bucket rates per tier; null when the tier is listed as unavailable. */
  tiers: Record<string, Omit<Rates, 'reasoningSource'> | null>;
};

/** Every priced identifier at its latest version, with the default-bucket rates of each tier. */
export async function listModelPrices(db: Db, opts: { now?: Date } = {}): Promise<ModelPriceListing[]> {
  const now = opts.now ?? new Date();
  const result = await sql<{
    model: string;
    price_version: string;
    effective_at: Date | null;
    service_tier: string;
    config: Record<string, unknown>;
    input_token_micros: string | null;
    cached_input_token_micros: string | null;
    cache_write_token_micros: string | null;
    output_token_micros: string | null;
    reasoning_token_micros: string | null;
  }>`
    WITH latest AS (
      SELECT DISTINCT ON (lower(model_identifier)) lower(model_identifier) AS model, price_version, revision
      FROM pricing_snapshots WHERE effective_at <= ${now}
      ORDER BY lower(model_identifier), effective_at DESC, revision DESC
    )
    SELECT l.model, s.price_version, s.effective_at, s.service_tier, s.config,
      s.input_token_micros, s.cached_input_token_micros, s.cache_write_token_micros, s.output_token_micros, s.reasoning_token_micros
    FROM latest l
    JOIN pricing_snapshots s ON lower(s.model_identifier) = l.model AND s.price_version = l.price_version AND s.revision = l.revision
    WHERE s.price_bucket = 'default'
    ORDER BY l.model`.execute(db);
  const byModel = new Map<string, ModelPriceListing>();
  for (const row of result.rows) {
    const entry = byModel.get(row.model) ?? { model: row.model, aliasOf: null, priceVersion: row.price_version, effectiveAt: row.effective_at, tiers: {} };
    if (typeof row.config.alias_of === 'string') entry.aliasOf = row.config.alias_of;
    const pricedRow = row.config.availability !== 'unavailable' && row.input_token_micros !== null && row.output_token_micros !== null;
    entry.tiers[row.service_tier] = pricedRow
      ? {
          input: Number(row.input_token_micros),
          cachedInput: Number(row.cached_input_token_micros ?? 0),
          cacheWrite: row.cache_write_token_micros === null ? null : Number(row.cache_write_token_micros),
          output: Number(row.output_token_micros),
          reasoning: Number(row.reasoning_token_micros ?? row.output_token_micros),
        }
      : null;
    byModel.set(row.model, entry);
  }
  for (const entry of byModel.values()) {
    entry.tiers = Object.fromEntries(Object.entries(entry.tiers).sort(([a], [b]) => tierRank(a) - tierRank(b) || (a < b ? -1 : 1)));
  }
  return [...byModel.values()];
}
