import type { Command } from 'commander';
import {
  describeModelPrice,
  fetchPricingFeed,
  importPricingFeed,
  listModelPrices,
  parsePricingFeed,
  PricingFeedError,
  type ModelPriceEntry,
  type PricingFeed,
} from '../accounting/index.ts';
import type { OperatorContext } from './context.ts';
import { formatTable, printJson } from './format.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { CliFailure, readInputFile } from './io.ts';

// Spec §7.1: one GET, 30 s, no retry.
const FETCH_TIMEOUT_MS = 30_000;
const isUrl = (source: string) => /^https?:\/\//i.test(source);

type RatesJson = { input: number; cached_input: number; cache_write: number | null; output: number; reasoning: number; reasoning_source: string };

export type PriceShowJson = {
  model: string;
  priced_model: string;
  matched_by: string;
  alias_of: string | null;
  price_version: string;
  effective_at: string;
  currency: 'USD';
  unit: 'usd_per_1m_tokens';
  tiers: (RatesJson & { tier: string; bucket: string; snapshot_id: string; long_context: (RatesJson & { bucket: string; snapshot_id: string }) | null })[];
  unpriced_tiers: string[];
};

const ratesJson = (r: ModelPriceEntry['tiers'][number]['rates']): RatesJson => ({
  input: r.input,
  cached_input: r.cachedInput,
  cache_write: r.cacheWrite,
  output: r.output,
  reasoning: r.reasoning,
  reasoning_source: r.reasoningSource,
});

export const priceShowJson = (entry: ModelPriceEntry): PriceShowJson => ({
  model: entry.requestedModel,
  priced_model: entry.pricedModel,
  matched_by: entry.matchedBy,
  alias_of: entry.aliasOf,
  price_version: entry.priceVersion,
  effective_at: entry.effectiveAt.toISOString(),
  currency: 'USD',
  unit: 'usd_per_1m_tokens',
  tiers: entry.tiers.map((t) => ({
    tier: t.tier,
    bucket: t.bucket,
    snapshot_id: t.snapshotId,
    ...ratesJson(t.rates),
    long_context: t.longContext ? { bucket: t.longContext.bucket, snapshot_id: t.longContext.snapshotId, ...ratesJson(t.longContext.rates) } : null,
  })),
  unpriced_tiers: entry.unpricedTiers,
});

function matchedHow(entry: ModelPriceEntry): string {
  if (entry.matchedBy === 'suffix') return `priced as ${entry.pricedModel} (dated snapshot or variant, matched by dropping its suffix)`;
  if (entry.matchedBy === 'alias') return `priced as ${entry.pricedModel}, an alias of ${entry.aliasOf ?? 'another model'}`;
  return `priced as ${entry.pricedModel} (exact match)`;
}

const usd = (n: number | null) => (n === null ? '-' : String(n));

async function loadFeed(ctx: OperatorContext, source: string): Promise<PricingFeed> {
  try {
    if (isUrl(source)) return await fetchPricingFeed(source, { timeoutMs: FETCH_TIMEOUT_MS });
    return parsePricingFeed(await readInputFile(ctx.io, source));
  } catch (error) {
    if (!(error instanceof PricingFeedError)) throw error;
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, bad port…) is its cause.
    const reason = (error.cause as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
    const detail = error.code === 'fetch_failed' && reason ? String(reason.code ?? reason.message ?? '') : '';
    throw new CliFailure(`cannot import pricing from ${source}: ${error.message}${detail ? ` (${detail})` : ''} [${error.code}]; nothing was stored`);
  }
}

export function registerPricingCommands(program: Command, ctx: OperatorContext): void {
  const pricing = program.command('pricing').description(OPERATOR_GROUP_DESCRIPTIONS.pricing);

  pricing
    .command('import')
    .description('import a pricing feed (the vendored format or the public openai-json-pricing catalog); re-importing changes nothing')
    .argument('<source>', 'a file path, `-` for stdin, or an http(s) URL')
    .option('--json', 'print the counts as a JSON object')
    .action(async (source: string, options: { json?: boolean }) => {
      // Dependencies first: on a server's embedded database the command (and stdin) is handed over.
      const { db } = await ctx.deps();
      const feed = await loadFeed(ctx, source);
      const result = await importPricingFeed(db, feed, { sourceUrl: isUrl(source) ? source : null, now: new Date() });
      const counts = { inserted: result.inserted, updated: result.updated, unchanged: result.unchanged, total: result.total };
      if (options.json) return printJson(ctx.io, { source, price_version: result.priceVersion, ...counts, skipped_models: feed.skipped.length });
      ctx.io.stdout(
        `imported pricing ${result.priceVersion} from ${source}: ${counts.inserted} inserted, ${counts.updated} updated, ${counts.unchanged} unchanged ` +
          `(${counts.total} prices for ${feed.models.length} models; ${feed.skipped.length} models skipped as not priced per token)\n`,
      );
    });

  pricing
    .command('show')
    .description('show the price entry a model resolves to and its rates in USD per 1M tokens, per service tier')
    .argument('<model>', 'model identifier as clients send it, e.g. gpt-5.4 or a dated snapshot')
    .option('--tier <tier>', 'only this service tier (standard, default, flex, priority, batch)')
    .option('--json', 'print a JSON object')
    .action(async (model: string, options: { tier?: string; json?: boolean }) => {
      const { db } = await ctx.deps();
      const entry = await describeModelPrice(db, model, { tier: options.tier ?? null });
      if (!entry) {
        const anyTier = options.tier === undefined ? null : await describeModelPrice(db, model);
        const where = anyTier ? ` in the ${options.tier} tier (priced tiers: ${anyTier.tiers.map((t) => t.tier).join(', ')})` : '';
        throw new CliFailure(`${model} has no price${where}; requests are recorded with usage and an explicit unpriced flag`);
      }
      if (options.json) return printJson(ctx.io, priceShowJson(entry));
      const rows: string[][] = [];
      for (const t of entry.tiers) {
        const reasoning = (r: typeof t.rates) => (r.reasoningSource === 'catalog' ? usd(r.reasoning) : `${usd(r.reasoning)} (output rate)`);
        rows.push([t.tier, t.bucket === 'default' ? 'default' : t.bucket, usd(t.rates.input), usd(t.rates.cachedInput), usd(t.rates.output), reasoning(t.rates), usd(t.rates.cacheWrite)]);
        if (t.longContext) {
          const r = t.longContext.rates;
          rows.push([t.tier, '>272k input', usd(r.input), usd(r.cachedInput), usd(r.output), reasoning(r), usd(r.cacheWrite)]);
        }
      }
      ctx.io.stdout(
        `${entry.requestedModel}: ${matchedHow(entry)}\n` +
          `price version ${entry.priceVersion}, effective ${entry.effectiveAt.toISOString()}\n` +
          `rates in USD per 1M tokens:\n` +
          formatTable(['TIER', 'CONTEXT', 'INPUT', 'CACHED INPUT', 'OUTPUT', 'REASONING', 'CACHE WRITE'], rows) +
          (entry.unpricedTiers.length ? `no price in: ${entry.unpricedTiers.join(', ')}\n` : ''),
      );
    });

  pricing
    .command('list')
    .description('list priced models at their latest price version (default-context rates, USD per 1M tokens)')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const { db } = await ctx.deps();
      const list = await listModelPrices(db);
      if (options.json) {
        return printJson(
          ctx.io,
          list.map((m) => ({
            model: m.model,
            alias_of: m.aliasOf,
            price_version: m.priceVersion,
            effective_at: m.effectiveAt ? m.effectiveAt.toISOString() : null,
            tiers: Object.fromEntries(
              Object.entries(m.tiers).map(([tier, r]) => [tier, r && { input: r.input, cached_input: r.cachedInput, cache_write: r.cacheWrite, output: r.output, reasoning: r.reasoning }]),
            ),
          })),
        );
      }
      if (list.length === 0) return ctx.io.stdout('no prices: import a feed with `codex-pooler pricing import FILE|URL`\n');
      ctx.io.stdout(
        formatTable(
          ['MODEL', 'INPUT', 'CACHED INPUT', 'OUTPUT', 'TIERS'],
          list.map((m) => {
            const standard = m.tiers.standard;
            return [m.model, usd(standard?.input ?? null), usd(standard?.cachedInput ?? null), usd(standard?.output ?? null), Object.keys(m.tiers).join(',')];
          }),
        ) + 'INPUT, CACHED INPUT and OUTPUT: standard tier, USD per 1M tokens; `pricing show MODEL` for every tier\n',
      );
    });
}
