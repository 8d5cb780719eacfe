import type { Logger } from 'pino';
import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import { metricsTokenDigest, readMetricsBearer, type MetricsBearerRecord } from './metrics-bearer.ts';

/**
 * How /metrics answers right now (spec B7): open, bearer-protected, or unavailable when this process
 * cannot tell (settings unreadable and never read): then it fails closed.
 */
export type MetricsAccess = { mode: 'open' } | { mode: 'bearer'; digest: Buffer; key: Buffer } | { mode: 'unavailable' };

/** A stored digest under a key version this process no longer holds cannot be checked: closed. */
export function accessFromRecord(record: MetricsBearerRecord | null, keyring: Keyring): MetricsAccess {
  if (!record) return { mode: 'open' };
  const key = keyring.keys.get(record.bearer_key_version);
  return key ? { mode: 'bearer', key, digest: Buffer.from(record.bearer_digest, 'base64') } : { mode: 'unavailable' };
}

export type MetricsAccessSource = { current(): Promise<MetricsAccess> };

/**
 * `CODEX_POOLER_METRICS_TOKEN` (a Kubernetes Secret, say) wins and needs no database. Otherwise the
 * bearer stored in instance settings is read at each scrape, so a rotation applies to the next
 * scrape on every replica; when that read fails the last good answer is kept, and a process that
 * never read one answers `unavailable` rather than exposing metrics a token may protect.
 */
export function createMetricsAccessSource(deps: { db: Db; keyring: Keyring; envToken: string | null; log: Logger }): MetricsAccessSource {
  if (deps.envToken) {
    const key = deps.keyring.keys.get(deps.keyring.currentVersion)!;
    const fixed: MetricsAccess = { mode: 'bearer', key, digest: metricsTokenDigest(key, deps.envToken) };
    return { current: async () => fixed };
  }
  let lastGood: MetricsAccess | null = null;
  return {
    async current() {
      try {
        lastGood = accessFromRecord(await readMetricsBearer(deps.db), deps.keyring);
      } catch (error) {
        deps.log.warn({ err: error, warm: lastGood !== null }, 'metrics bearer setting unreadable');
      }
      return lastGood ?? { mode: 'unavailable' };
    },
  };
}
