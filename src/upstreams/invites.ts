// Pool invites (control-plane spec §5.4): an operator invites an email into a Pool; the account
// owner opens the one-time link (no login), signs in with a device code, and the account joins the
// Pool when the signed-in email is the invited one. Tokens are stored as SHA-256 only.

import { sql } from 'kysely';
import { recordAudit, type Actor } from '../audit/index.ts';
import { mintOpaqueToken, opaqueTokenDigest } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import { invalidInput, PoolerError } from '../errors.ts';
import { findPool } from '../pools/index.ts';
import type { AccountDeps } from './accounts.ts';
import type { InviteRow, InviteStatus } from './oauth-flow.table.ts';
import { flowView, getFlow, pollDeviceFlow, startDeviceFlow, type DevicePollResult, type OAuthFlowView } from './oauth-flows.ts';

export const INVITE_TTL_MS = 24 * 60 * 60 * 1000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export type InviteView = {
  id: string;
  poolId: string;
  poolSlug: string;
  email: string;
  status: InviteStatus;
  expiresAt: Date;
  createdAt: Date;
  acceptedAt: Date | null;
  revokedAt: Date | null;
  emailSentAt: Date | null;
  inviter: string | null;
  /** The account that joined through this invite (its Pool assignment id). */
  resultAccountId: string | null;
};

export type CreatedInvite = { invite: InviteView; url: string };

/** Absolute base URL for links the instance hands out: plain http on a local host, else https. */
export function publicUrlOf(host: string, port: number): string {
  const local = host === 'localhost' || host === '127.0.0.1' || host === '::1';
  return local ? `http://${host}:${port}` : `https://${host}`;
}

export const inviteUrl = (publicUrl: string, token: string) => `${publicUrl.replace(/\/+$/, '')}/onboarding/invites/${token}`;

/** Trimmed, lowercased invited email, or a 400 naming `email`. */
export function normalizeInviteEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 160 || !EMAIL.test(email)) throw invalidInput('email must be an email address like name@example.com', 'email');
  return email;
}

function invitesQuery(db: Db) {
  return db
    .selectFrom('invites as v')
    .innerJoin('pools as p', 'p.id', 'v.pool_id')
    .leftJoin('users as u', 'u.id', 'v.created_by_user_id')
    .leftJoin('invite_acceptances as a', 'a.invite_id', 'v.id')
    .select(['v.id', 'v.pool_id', 'p.slug as pool_slug', 'v.invited_email', 'v.status', 'v.expires_at', 'v.created_at', 'v.accepted_at', 'v.revoked_at', 'v.email_sent_at', 'u.email as inviter', 'a.pool_upstream_assignment_id']);
}

type InviteQueryRow = Awaited<ReturnType<ReturnType<typeof invitesQuery>['execute']>>[number];

function inviteView(row: InviteQueryRow, now: Date): InviteView {
  // An active invite past its expiry reads as expired before anything rewrote the row.
  const status = row.status === 'active' && row.expires_at.getTime() <= now.getTime() ? 'expired' : row.status;
  return {
    id: row.id,
    poolId: row.pool_id,
    poolSlug: row.pool_slug,
    email: row.invited_email,
    status,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    acceptedAt: row.accepted_at,
    revokedAt: row.revoked_at,
    emailSentAt: row.email_sent_at,
    inviter: row.inviter,
    resultAccountId: row.pool_upstream_assignment_id,
  };
}

export async function getInvite(db: Db, id: string): Promise<InviteView> {
  const row = await invitesQuery(db).where('v.id', '=', id).executeTakeFirst();
  if (!row) throw new PoolerError('invite_not_found', 'this invite does not exist', { param: 'id' });
  return inviteView(row, new Date());
}

export async function listInvites(db: Db, filter: { poolIds?: string[] | null; pool?: string; status?: InviteStatus } = {}): Promise<InviteView[]> {
  let query = invitesQuery(db).orderBy('v.created_at', 'desc').limit(500);
  if (filter.poolIds) query = filter.poolIds.length ? query.where('v.pool_id', 'in', filter.poolIds) : query.where(sql<boolean>`false`);
  if (filter.pool) query = query.where('v.pool_id', '=', (await findPool(db, filter.pool)).id);
  const now = new Date();
  const views = (await query.execute()).map((row) => inviteView(row, now));
  return filter.status ? views.filter((v) => v.status === filter.status) : views;
}

/**
 * Creates an invite for (Pool, email): expired active ones for the pair become `expired`, a live
 * one is `invite_exists`. The URL is returned once; only its SHA-256 is stored.
 */
export async function createInvite(deps: AccountDeps, actor: Actor, input: { pool: string; email: string; expiresAt?: string | null }): Promise<CreatedInvite> {
  const email = normalizeInviteEmail(input.email);
  const now = new Date();
  let expiresAt = new Date(now.getTime() + INVITE_TTL_MS);
  if (input.expiresAt) {
    const parsed = Date.parse(input.expiresAt);
    if (Number.isNaN(parsed) || parsed <= now.getTime()) throw invalidInput('expires_at must be an RFC 3339 time in the future', 'expires_at');
    expiresAt = new Date(parsed);
  }
  const pool = await findPool(deps.db, input.pool);
  if (pool.status !== 'active') throw new PoolerError('pool_not_found', `pool ${pool.slug} is ${pool.status}; invites are for active pools`, { param: 'pool_id' });
  const token = mintOpaqueToken();
  const id = await deps.db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`invite:${pool.id}:${email}`}, 0))`.execute(tx);
    await tx.updateTable('invites').set({ status: 'expired', updated_at: now }).where('pool_id', '=', pool.id).where('invited_email', '=', email).where('status', '=', 'active').where('expires_at', '<=', now).execute();
    const live = await tx.selectFrom('invites').select('id').where('pool_id', '=', pool.id).where('invited_email', '=', email).where('status', '=', 'active').executeTakeFirst();
    if (live) throw new PoolerError('invite_exists', `${email} already has an active invite to ${pool.slug}; revoke it first`, { param: 'email' });
    const inserted = await tx
      .insertInto('invites')
      .values({ pool_id: pool.id, token_hash: token.digest, invited_email: email, expires_at: expiresAt, accepted_at: null, email_sent_at: null, revoked_at: null, created_by_user_id: actor.type === 'user' ? actor.userId : null })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordAudit(tx, { actor, action: 'invite.create', poolId: pool.id, targetType: 'invite', targetId: inserted.id, details: { email_domain: email.split('@')[1], expires_at: expiresAt.toISOString(), emailed: false } });
    return inserted.id;
  });
  // SMTP delivery belongs to the alerts/mail work; until then the operator passes the URL on.
  return { invite: await getInvite(deps.db, id), url: inviteUrl(deps.publicUrl, token.token) };
}

/** Revokes an active invite (anything else is `invite_not_found`); accounts that joined stay. */
export async function revokeInvite(deps: Pick<AccountDeps, 'db'>, actor: Actor, id: string): Promise<InviteView> {
  const now = new Date();
  await deps.db.transaction().execute(async (tx) => {
    const row = await tx.selectFrom('invites').select(['id', 'pool_id', 'status']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row || row.status !== 'active') throw new PoolerError('invite_not_found', 'only an active invite can be revoked', { param: 'id' });
    await tx.updateTable('invites').set({ status: 'revoked', revoked_at: now, updated_at: now }).where('id', '=', id).execute();
    await tx.updateTable('upstream_oauth_flows').set({ status: 'cancelled', cancelled_at: now, error_code: 'invite_revoked', updated_at: now }).where('invite_id', '=', id).where('status', '=', 'pending').execute();
    await recordAudit(tx, { actor, action: 'invite.revoke', poolId: row.pool_id, targetType: 'invite', targetId: id });
  });
  return getInvite(deps.db, id);
}

// ---- the public onboarding side (token = authorization) -----------------------------------------

export type PublicInvite = { invite: InviteRow; poolName: string; poolSlug: string; inviter: string | null };

/** A usable invite: active, unexpired, Pool active. Accepted or expired → `invite_consumed`; else `invite_not_found`. */
export async function findUsableInvite(db: Db, token: string): Promise<PublicInvite> {
  const trimmed = token.trim();
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(trimmed)) throw new PoolerError('invite_not_found');
  const row = await db
    .selectFrom('invites as v')
    .innerJoin('pools as p', 'p.id', 'v.pool_id')
    .leftJoin('users as u', 'u.id', 'v.created_by_user_id')
    .selectAll('v')
    .select(['p.name as pool_name', 'p.slug as pool_slug', 'p.status as pool_status', 'u.display_name', 'u.email as inviter_email'])
    .where('v.token_hash', '=', opaqueTokenDigest(trimmed))
    .executeTakeFirst();
  if (!row) throw new PoolerError('invite_not_found');
  const now = new Date();
  if (row.status === 'active' && row.expires_at.getTime() <= now.getTime()) {
    await db.updateTable('invites').set({ status: 'expired', updated_at: now }).where('id', '=', row.id).where('status', '=', 'active').execute();
    throw new PoolerError('invite_consumed', 'this invite has expired; ask for a new one');
  }
  if (row.status === 'accepted' || row.status === 'expired') throw new PoolerError('invite_consumed', row.status === 'accepted' ? 'this invite was already used' : 'this invite has expired; ask for a new one');
  if (row.status !== 'active' || row.pool_status !== 'active') throw new PoolerError('invite_not_found');
  const { pool_name, pool_slug, pool_status: _status, display_name, inviter_email, ...invite } = row;
  return { invite, poolName: pool_name, poolSlug: pool_slug, inviter: display_name ?? inviter_email };
}

const inviteActor = (invite: InviteRow, context?: Actor['context']): Actor => ({ type: 'system', label: `invite:${invite.id}`, context });

export async function startInviteDeviceFlow(deps: AccountDeps, token: string, context?: Actor['context']): Promise<OAuthFlowView> {
  const { invite } = await findUsableInvite(deps.db, token);
  return startDeviceFlow(deps, inviteActor(invite, context), { pool: invite.pool_id, inviteId: invite.id, source: 'invite' });
}

/** Polls the invite's device flow; on approval the signed-in email must be the invited one. */
export async function pollInviteDeviceFlow(deps: AccountDeps, token: string, flowId: string, context?: Actor['context']): Promise<DevicePollResult> {
  const { invite } = await findUsableInvite(deps.db, token);
  const flow = await getFlow(deps, flowId).catch(() => null);
  if (!flow || flow.invite_id !== invite.id) throw new PoolerError('not_found', 'this sign-in does not belong to the invite', { param: 'flow_id' });
  const actor = inviteActor(invite, context);
  return pollDeviceFlow(deps, actor, flow.id, {
    method: 'invite',
    check(credentials) {
      if (credentials.email?.toLowerCase() !== invite.invited_email) throw new PoolerError('invite_email_mismatch', `sign in with ${invite.invited_email}; this ChatGPT account uses another email`);
    },
    async inTransaction(tx, linked, credentials) {
      const now = new Date();
      const updated = await tx.updateTable('invites').set({ status: 'accepted', accepted_at: now, updated_at: now }).where('id', '=', invite.id).where('status', '=', 'active').executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw new PoolerError('invite_consumed', 'this invite was used meanwhile');
      await tx
        .insertInto('invite_acceptances')
        .values({ invite_id: invite.id, pool_id: invite.pool_id, upstream_identity_id: linked.identityId, pool_upstream_assignment_id: linked.assignmentId, onboarding_method: 'invite', accepted_by_email: credentials.email ?? invite.invited_email, details: JSON.stringify({ created: linked.created }) as unknown as Record<string, unknown> })
        .execute();
      await recordAudit(tx, { actor, action: 'invite.accept', poolId: invite.pool_id, targetType: 'invite', targetId: invite.id, details: { created: linked.created } });
    },
  });
}


