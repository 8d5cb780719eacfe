import type { Logger } from 'pino';
import type { Db } from '../db/index.ts';
import type { QuotaWindowEvidence } from './quota-evidence.ts';

export type QuotaObservation = { identityId: string; windows: QuotaWindowEvidence[]; observedAt: Date };

/** Upserts quota windows: the latest observation per (account, limit, window) wins. */
export async function saveQuotaWindows(db: Db, observations: QuotaObservation[]): Promise<void> {
  const latest = new Map<string, { identityId: string; window: QuotaWindowEvidence; observedAt: Date }>();
  for (const observation of observations) {
    for (const window of observation.windows) {
      const key = `${observation.identityId}\0${window.quotaKey}\0${window.windowKind}`;
      const existing = latest.get(key);
      if (!existing || existing.observedAt <= observation.observedAt) latest.set(key, { identityId: observation.identityId, window, observedAt: observation.observedAt });
    }
  }
  if (latest.size === 0) return;
  await db
    .insertInto('account_quota_windows')
    .values(
      [...latest.values()].map(({ identityId, window, observedAt }) => ({
        upstream_identity_id: identityId,
        quota_key: window.quotaKey,
        window_kind: window.windowKind,
        window_minutes: window.windowMinutes,
        active_limit: null,
        credits: null,
        reset_at: window.resetAt,
        used_percent: window.usedPercent === null ? null : window.usedPercent.toFixed(3),
        source_precision: window.precision,
        source: window.source,
        freshness_state: 'fresh' as const,
        observed_at: observedAt,
        model: '',
      })),
    )
    .onConflict((oc) =>
      oc.columns(['upstream_identity_id', 'quota_key', 'window_kind', 'model']).doUpdateSet((eb) => ({
        window_minutes: eb.ref('excluded.window_minutes'),
        reset_at: eb.ref('excluded.reset_at'),
        // Error bodies may omit the percentage: keep the last known one rather than erase it.
        used_percent: eb.fn.coalesce('excluded.used_percent', 'account_quota_windows.used_percent'),
        source_precision: eb.ref('excluded.source_precision'),
        source: eb.ref('excluded.source'),
        freshness_state: 'fresh',
        observed_at: eb.ref('excluded.observed_at'),
        updated_at: new Date(),
      })).where('account_quota_windows.observed_at', '<=', (eb) => eb.ref('excluded.observed_at')),
    )
    .execute();
}

/**
 * Quota evidence from the hot path is recorded off it: observations are buffered and flushed in
 * batches; a failure is logged and never fails a request.
 */
export class QuotaRecorder {
  #db: Db;
  #log: Logger;
  #buffer: QuotaObservation[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #onObserved: (observation: QuotaObservation) => void;

  constructor(db: Db, log: Logger, onObserved: (observation: QuotaObservation) => void = () => {}) {
    this.#db = db;
    this.#log = log;
    this.#onObserved = onObserved;
  }

  record(observation: QuotaObservation): void {
    if (observation.windows.length === 0) return;
    this.#onObserved(observation);
    this.#buffer.push(observation);
    this.#timer ??= setTimeout(() => void this.flush(), 250);
  }

  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#buffer;
    this.#buffer = [];
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      try {
        await saveQuotaWindows(this.#db, batch);
      } catch (error) {
        this.#log.warn({ err: error, observations: batch.length }, 'quota evidence could not be recorded');
      }
    });
    return this.#flushing;
  }
}
