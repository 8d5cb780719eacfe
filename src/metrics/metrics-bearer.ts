import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import { jsonb, type Db } from '../db/index.ts';
import { invalidInput } from '../errors.ts';
import { actorOf, authorize, type Scope } from '../operators/scope.ts';

/**
 * The `/metrics` bearer as stored in the `metrics` group of instance settings (spec B7): only the
 * HMAC-SHA256 digest under the upstream secret key, a fingerprint to recognise it and the key version.
 * The token itself is shown once by whoever set it and never stored or logged.
 */
export type MetricsBearerRecord = { bearer_digest: string; bearer_fingerprint: string; bearer_key_version: string; bearer_set_at?: string };

// `bearer_set_at` is absent on records stored before it was added.
const RECORD = z.object({ bearer_digest: z.string().min(1), bearer_fingerprint: z.string(), bearer_key_version: z.string().min(1), bearer_set_at: z.string().optional() });
/** Printable ASCII without spaces: it travels in an Authorization header and a Prometheus file. */
const TOKEN = z.string().regex(/^[\x21-\x7e]{16,512}$/, 'the metrics bearer token must be 16 to 512 printable characters without spaces');

/** 32 random bytes, base64url: what `--generate` and the admin UI's "Generate token" hand out once. */
export function generateMetricsToken(): string {
  return randomBytes(32).toString('base64url');
}

export function metricsTokenDigest(key: Buffer, token: string): Buffer {
  return createHmac('sha256', key).update(token).digest();
}

/** `sha256:` + 12 characters of base64url SHA-256: enough to tell tokens apart, useless to guess one. */
export function metricsTokenFingerprint(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('base64url').slice(0, 12)}`;
}

/** Constant-time check of an `Authorization` header against a stored digest. */
export function bearerMatches(header: string | undefined, key: Buffer, digest: Buffer): boolean {
  const match = /^Bearer (\S+)$/.exec(header ?? '');
  const presented = metricsTokenDigest(key, match?.[1] ?? '');
  return presented.length === digest.length && timingSafeEqual(presented, digest) && match !== null;
}

/** The stored bearer, or null when /metrics is open. Throws when the settings cannot be read. */
export async function readMetricsBearer(db: Db): Promise<MetricsBearerRecord | null> {
  const row = await db.selectFrom('instance_settings').select(sql<unknown>`settings -> 'metrics'`.as('metrics')).where('singleton', '=', true).executeTakeFirst();
  const parsed = RECORD.safeParse(row?.metrics);
  return parsed.success ? parsed.data : null;
}

export type MetricsBearerChange = { state: 'configured' | 'cleared' | 'unchanged_unset'; fingerprint: string | null };

/**
 * Sets (token) or clears (null) the bearer. Owner only, like every instance setting; bumps
 * `lock_version` so a settings form open elsewhere reloads, and audits the change without the token.
 * Setting a new token kills the old one at once.
 */
export async function setMetricsBearer(deps: { db: Db; keyring: Keyring }, scope: Scope, token: string | null): Promise<MetricsBearerChange> {
  authorize(scope, 'instance_settings.manage');
  let record: MetricsBearerRecord | null = null;
  if (token !== null) {
    const parsed = TOKEN.safeParse(token);
    if (!parsed.success) throw invalidInput(parsed.error.issues[0]!.message, 'token');
    const version = deps.keyring.currentVersion;
    const key = deps.keyring.keys.get(version)!;
    record = {
      bearer_digest: metricsTokenDigest(key, parsed.data).toString('base64'),
      bearer_fingerprint: metricsTokenFingerprint(parsed.data),
      bearer_key_version: version,
      bearer_set_at: new Date().toISOString(),
    };
  }
  return deps.db.transaction().execute(async (tx) => {
    await tx.insertInto('instance_settings').values({ singleton: true, updated_by_user_id: null }).onConflict((oc) => oc.column('singleton').doNothing()).execute();
    const current = await tx.selectFrom('instance_settings').select(sql<unknown>`settings -> 'metrics'`.as('metrics')).where('singleton', '=', true).forUpdate().executeTakeFirstOrThrow();
    const hadBearer = RECORD.safeParse(current.metrics).success;
    if (!record && !hadBearer) return { state: 'unchanged_unset' as const, fingerprint: null };
    await tx
      .updateTable('instance_settings')
      .set({
        settings: record ? sql`jsonb_set(settings, '{metrics}', ${jsonb(record)}::jsonb)` : sql`settings - 'metrics'`,
        lock_version: sql`lock_version + 1`,
        updated_by_user_id: scope.kind === 'operator' ? scope.userId : null,
        updated_at: new Date(),
      })
      .where('singleton', '=', true)
      .execute();
    const change: MetricsBearerChange = { state: record ? 'configured' : 'cleared', fingerprint: record?.bearer_fingerprint ?? null };
    await recordAudit(tx, {
      actor: actorOf(scope),
      action: 'instance_settings.update',
      targetType: 'instance_settings',
      targetId: 'singleton',
      details: { changed_categories: ['metrics'], changed_keys: ['metrics.bearer'], credential_changes: { metrics_auth_state: change.state, metrics_fingerprint: change.fingerprint } },
    });
    return change;
  });
}
