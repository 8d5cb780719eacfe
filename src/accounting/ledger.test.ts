import { describe, expect, test } from 'vitest';
import { closingEntry, ledgerEntries, reservationEntry, type LedgerRequest } from './ledger.ts';
import type { ResolvedPrice } from './pricing-feed.ts';

const request = (extra: Partial<LedgerRequest> = {}): LedgerRequest => ({
  requestId: 'r1',
  attemptId: 'a1',
  poolId: 'p',
  apiKeyId: 'k',
  assignmentId: 's',
  identityId: 'i',
  model: 'gpt-5.4',
  serviceTier: null,
  transport: 'http_sse',
  estimatedInputTokens: 100,
  usage: { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 200, reasoningTokens: 50, totalTokens: 1200 },
  served: true,
  occurredAt: new Date('2026-11-27T12:00:00Z'),
  ...extra,
});

const price = { snapshotId: 'snap', inputMicros: 1.25, cachedInputMicros: 0.125, cacheWriteMicros: null, outputMicros: 10, reasoningMicros: 10, requestBaseMicros: 0, pricedModel: 'gpt-5.4', matchedBy: 'exact' } as unknown as ResolvedPrice;
const details = (entry: { details?: unknown }) => JSON.parse(entry.details as string) as Record<string, unknown>;

describe('ledgerEntries', () => {
  test('a served request: reservation of the estimate, settlement with the cost of its usage', () => {
    const [reservation, settlement] = ledgerEntries(request(), price);
    expect(reservation).toMatchObject({ entry_kind: 'reservation', input_tokens: 100, estimated_cost_micros: (125).toFixed(9), source_event_id: 'request:r1:reservation' });
    // 600 input × 1.25 + 400 cached × 0.125 + 200 output × 10 (reasoning is part of output) = 2800 µ$
    expect(settlement).toMatchObject({ entry_kind: 'settlement', usage_status: 'usage_known', total_tokens: 1200, settled_cost_micros: (2800).toFixed(9), source_event_id: 'request:r1:settlement:usage-known' });
    expect(details(settlement!).unpriced).toBe(false);
  });

  test('an unpriced model keeps its usage and says so, with no made-up cost', () => {
    const [, settlement] = ledgerEntries(request({ model: 'mystery-model' }), null);
    expect(settlement).toMatchObject({ total_tokens: 1200, settled_cost_micros: null, estimated_cost_micros: null });
    expect(details(settlement!).unpriced).toBe(true);
  });

  test('nothing served: the reservation is released', () => {
    const entries = ledgerEntries(request({ served: false, usage: null }), price);
    expect(entries.map((e) => e.entry_kind)).toEqual(['reservation', 'release']);
  });

  test('the reservation written before the upstream call and the closing row written after it share the request', () => {
    const reservation = reservationEntry(request({ usage: null, served: false }), price);
    expect(reservation).toMatchObject({ entry_kind: 'reservation', attempt_id: null, usage_status: 'usage_pending', request_count: 1, source_event_id: 'request:r1:reservation' });
    expect(closingEntry(request({ usage: null, served: false }), price)).toMatchObject({ entry_kind: 'release', estimated_cost_micros: reservation.estimated_cost_micros, source_event_id: 'request:r1:release' });
    expect(closingEntry(request({ usage: null, served: true }), price)).toMatchObject({ entry_kind: 'settlement', usage_status: 'usage_unknown', settled_cost_micros: null, source_event_id: 'request:r1:settlement' });
  });
});
