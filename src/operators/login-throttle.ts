import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { PoolerError } from '../errors.ts';

/**
 * Login protection (spec §13): failures are counted per client IP and per account (the typed email,
 * known or not, so a lockout never reveals whether an operator exists). Reaching the limit within
 * the window locks that IP or account for `lockMs`; a success clears the account's count.
 */
export type LoginLimits = { accountFailures: number; ipFailures: number; windowMs: number; lockMs: number };

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { accountFailures: 5, ipFailures: 20, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

type ThrottleKey = { kind: 'ip' | 'account'; key: string };

function keysFor(ipAddress: string | null, email: string | null): ThrottleKey[] {
  const keys: ThrottleKey[] = [];
  if (ipAddress) keys.push({ kind: 'ip', key: ipAddress.slice(0, 200) });
  if (email) keys.push({ kind: 'account', key: email.slice(0, 200) });
  return keys;
}

/** Refuses with `login_locked` (429, Retry-After) while the IP or the account is locked. */
export async function assertLoginAllowed(db: Db, ipAddress: string | null, email: string | null, now: Date): Promise<void> {
  const keys = keysFor(ipAddress, email);
  if (keys.length === 0) return;
  const locked = await db
    .selectFrom('login_throttles')
    .select(['scope_kind', 'locked_until'])
    .where((eb) => eb.or(keys.map((k) => eb.and([eb('scope_kind', '=', k.kind), eb('scope_key', '=', k.key)]))))
    .where('locked_until', '>', now)
    .orderBy('locked_until', 'desc')
    .executeTakeFirst();
  if (!locked?.locked_until) return;
  const retryAfter = Math.max(1, Math.ceil((locked.locked_until.getTime() - now.getTime()) / 1000));
  throw new PoolerError('login_locked', undefined, { headers: { 'retry-after': String(retryAfter) } });
}

export type FailureOutcome = { lockedKinds: Array<'ip' | 'account'>; lockedUntil: Date | null };

/** Counts one failed attempt against the IP and the account; answers which of them just got locked. */
export async function recordLoginFailure(db: Db, ipAddress: string | null, email: string | null, now: Date, limits: LoginLimits): Promise<FailureOutcome> {
  const windowStart = new Date(now.getTime() - limits.windowMs);
  const outcome: FailureOutcome = { lockedKinds: [], lockedUntil: null };
  for (const { kind, key } of keysFor(ipAddress, email)) {
    const row = await db
      .insertInto('login_throttles')
      .values({ scope_kind: kind, scope_key: key, failure_count: 1, window_started_at: now, locked_until: null, updated_at: now })
      .onConflict((oc) =>
        oc.columns(['scope_kind', 'scope_key']).doUpdateSet({
          failure_count: sql<number>`CASE WHEN login_throttles.window_started_at < ${windowStart} THEN 1 ELSE login_throttles.failure_count + 1 END`,
          window_started_at: sql<Date>`CASE WHEN login_throttles.window_started_at < ${windowStart} THEN ${now}::timestamptz ELSE login_throttles.window_started_at END`,
          updated_at: now,
        }),
      )
      .returning(['failure_count'])
      .executeTakeFirstOrThrow();
    const limit = kind === 'ip' ? limits.ipFailures : limits.accountFailures;
    if (row.failure_count >= limit) {
      const lockedUntil = new Date(now.getTime() + limits.lockMs);
      await db.updateTable('login_throttles').set({ locked_until: lockedUntil, failure_count: 0, window_started_at: now, updated_at: now }).where('scope_kind', '=', kind).where('scope_key', '=', key).execute();
      outcome.lockedKinds.push(kind);
      outcome.lockedUntil = lockedUntil;
    }
  }
  return outcome;
}

/** A successful sign-in clears the account's failures (the IP's count decays with its window). */
export async function clearAccountFailures(db: Db, email: string): Promise<void> {
  await db.deleteFrom('login_throttles').where('scope_kind', '=', 'account').where('scope_key', '=', email.slice(0, 200)).execute();
}
