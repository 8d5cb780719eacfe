import type { Db, Tx } from '../db/index.ts';
import { costMicros, resolvePrice, type ResolvedPrice } from './pricing-feed.ts';
import type { NewLedgerEntry } from './ledger.table.ts';

export type ServedUsage = { inputTokens: number; cachedInputTokens: number; outputTokens: number; reasoningTokens: number; totalTokens: number };

/** What the ledger needs to know about one finished gateway request. */
export type LedgerRequest = {
  requestId: string;
  attemptId: string | null;
  poolId: string;
  apiKeyId: string;
  assignmentId: string | null;
  identityId: string | null;
  model: string;
  serviceTier: string | null;
  transport: string;
  /** Input tokens estimated before the upstream call (request bytes / 4). */
  estimatedInputTokens: number;
  usage: ServedUsage | null;
  /** Whether the upstream served the request (usage then settles it) or nothing was served (release). */
  served: boolean;
  occurredAt: Date;
};

const micros = (value: number | null): string | null => (value === null ? null : value.toFixed(9));

type Common = Omit<NewLedgerEntry, 'entry_kind' | 'source_event_id'>;

function commonOf(request: LedgerRequest, price: ResolvedPrice | null): Common {
  return {
    request_id: request.requestId,
    attempt_id: request.attemptId,
    pricing_snapshot_id: price?.snapshotId ?? null,
    pool_id: request.poolId,
    api_key_id: request.apiKeyId,
    pool_upstream_assignment_id: request.assignmentId,
    upstream_identity_id: request.identityId,
    model: request.model,
    transport: request.transport,
    correction_of_entry_id: null,
    occurred_at: request.occurredAt,
  };
}

const estimateOf = (request: LedgerRequest, price: ResolvedPrice | null): number | null =>
  price ? costMicros(price, { inputTokens: request.estimatedInputTokens, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 }) : null;

export const reservationEventId = (requestId: string) => `request:${requestId}:reservation`;
export const releaseEventId = (requestId: string) => `request:${requestId}:release`;

/**
 * The reservation of one request (spec §7.3), written before the upstream call: the estimate, so a
 * request the process never finishes (a crash) is still accounted until cleanup releases it.
 */
export function reservationEntry(request: LedgerRequest, price: ResolvedPrice | null): NewLedgerEntry {
  return {
    ...commonOf(request, price),
    attempt_id: null,
    entry_kind: 'reservation',
    usage_status: 'usage_pending',
    input_tokens: request.estimatedInputTokens,
    total_tokens: request.estimatedInputTokens,
    request_count: 1,
    estimated_cost_micros: micros(estimateOf(request, price)),
    settled_cost_micros: null,
    source_event_id: reservationEventId(request.requestId),
    details: JSON.stringify({ unpriced: price === null, service_tier: request.serviceTier ?? 'default' }) as unknown as Record<string, unknown>,
  };
}

/**
 * What closes a reservation: a settlement with the reported usage and its cost when the upstream
 * served the request, else a release mirroring the estimate. A model without a price is recorded
 * with its usage and `unpriced: true`, never with a made-up cost.
 */
export function closingEntry(request: LedgerRequest, price: ResolvedPrice | null): NewLedgerEntry {
  const common = commonOf(request, price);
  const estimated = micros(estimateOf(request, price));
  const unpriced = price === null;
  if (!request.served) {
    return {
      ...common,
      entry_kind: 'release',
      usage_status: 'not_applicable',
      input_tokens: request.estimatedInputTokens,
      total_tokens: request.estimatedInputTokens,
      request_count: 1,
      estimated_cost_micros: estimated,
      settled_cost_micros: null,
      source_event_id: releaseEventId(request.requestId),
      details: JSON.stringify({ unpriced }) as unknown as Record<string, unknown>,
    };
  }
  const usage = request.usage;
  const settled = usage && price ? costMicros(price, usage) : null;
  return {
    ...common,
    entry_kind: 'settlement',
    usage_status: usage ? 'usage_known' : 'usage_unknown',
    input_tokens: usage?.inputTokens ?? 0,
    cached_input_tokens: usage?.cachedInputTokens ?? 0,
    output_tokens: usage?.outputTokens ?? 0,
    reasoning_tokens: usage?.reasoningTokens ?? 0,
    total_tokens: usage?.totalTokens ?? 0,
    request_count: 1,
    estimated_cost_micros: estimated,
    settled_cost_micros: micros(settled),
    source_event_id: usage ? `request:${request.requestId}:settlement:usage-known` : `request:${request.requestId}:settlement`,
    details: JSON.stringify({ unpriced: unpriced || (usage !== null && settled === null), priced_model: price?.pricedModel ?? null, matched_by: price?.matchedBy ?? null }) as unknown as Record<string, unknown>,
  };
}

/**
 * The ledger rows of one finished request, pure: its reservation, then its settlement or release.
 * Source event ids make every write idempotent.
 */
export function ledgerEntries(request: LedgerRequest, price: ResolvedPrice | null): NewLedgerEntry[] {
  return [reservationEntry(request, price), closingEntry(request, price)];
}

const PRICE_TTL_MS = 10 * 60_000;

/** Resolved prices cached per (model, tier): the pricing table changes hourly at most. */
export class PriceBook {
  #db: Db;
  #cache = new Map<string, { at: number; price: ResolvedPrice | null }>();

  constructor(db: Db) {
    this.#db = db;
  }

  async priceFor(model: string, serviceTier: string | null, estimatedInputTokens: number): Promise<ResolvedPrice | null> {
    const key = `${model.toLowerCase()}\0${serviceTier ?? ''}\0${estimatedInputTokens > 272_000 ? 'long' : 'default'}`;
    const cached = this.#cache.get(key);
    if (cached && Date.now() - cached.at < PRICE_TTL_MS) return cached.price;
    const price = await resolvePrice(this.#db, model, serviceTier, { estimatedInputTokens });
    this.#cache.set(key, { at: Date.now(), price });
    return price;
  }
}

/** Writes ledger rows and the per-key minute buckets in the caller's transaction; idempotent. */
export async function writeLedger(tx: Tx, entries: NewLedgerEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const inserted = await tx.insertInto('ledger_entries').values(entries).onConflict((oc) => oc.column('source_event_id').doNothing()).returning(['api_key_id', 'entry_kind', 'occurred_at', 'total_tokens', 'settled_cost_micros']).execute();
  // Buckets count served requests and their tokens per minute (what key limits and usage read).
  const buckets = new Map<string, { apiKeyId: string; minute: Date; requests: number; tokens: number; cost: number }>();
  for (const row of inserted) {
    if (row.entry_kind !== 'settlement' || !row.api_key_id) continue;
    const minute = new Date(Math.floor(row.occurred_at.getTime() / 60_000) * 60_000);
    const key = `${row.api_key_id}\0${minute.getTime()}`;
    const bucket = buckets.get(key) ?? { apiKeyId: row.api_key_id, minute, requests: 0, tokens: 0, cost: 0 };
    bucket.requests += 1;
    bucket.tokens += Number(row.total_tokens);
    bucket.cost += Number(row.settled_cost_micros ?? 0);
    buckets.set(key, bucket);
  }
  if (buckets.size === 0) return;
  await tx
    .insertInto('api_key_usage_buckets')
    .values([...buckets.values()].map((b) => ({ api_key_id: b.apiKeyId, minute: b.minute, request_count: b.requests, total_tokens: b.tokens, cost_micros: b.cost.toFixed(9) })))
    .onConflict((oc) =>
      oc.columns(['api_key_id', 'minute']).doUpdateSet((eb) => ({
        request_count: eb('api_key_usage_buckets.request_count', '+', eb.ref('excluded.request_count')),
        total_tokens: eb('api_key_usage_buckets.total_tokens', '+', eb.ref('excluded.total_tokens')),
        cost_micros: eb('api_key_usage_buckets.cost_micros', '+', eb.ref('excluded.cost_micros')),
      })),
    )
    .execute();
}
