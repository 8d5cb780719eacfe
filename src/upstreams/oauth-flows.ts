// Signing an upstream account in with ChatGPT (control-plane spec §5.3): browser PKCE and device
// code, for a new link or a relink (re-authenticate). A flow row keeps only the SHA-256 of the
// state and the encrypted verifier / device id; the tokens go straight to `linkAccount`.

import { randomUUID, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { recordAudit, type Actor } from '../audit/index.ts';
import { mintOpaqueToken, openJsonEnvelope, sealJsonEnvelope, sha256 } from '../crypto/index.ts';
import type { Tx } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { findPool } from '../pools/index.ts';
import { afterLink, type AccountDeps, type ImportResult } from './accounts.ts';
import { linkAccount, type LinkCredentials, type LinkResult, type OnboardingMethod } from './linking.ts';
import { exchangeAuthorizationCode, pollDeviceToken, requestDeviceCode, type IssuerDeps } from './oauth-client.ts';
import type { OAuthFlowKind, OAuthFlowPurpose, OAuthFlowRow } from './oauth-flow.table.ts';
import {
  BROWSER_REDIRECT_URI,
  buildAuthorizeUrl,
  credentialsFromTokens,
  deviceRedirectUri,
  FLOW_TTL_MS,
  newPkce,
  parseCallbackUrl,
  relinkProof,
  slowedInterval,
  type OAuthFailure,
  type OAuthFailureCode,
} from './oauth-protocol.ts';

export type OAuthFlowView = {
  id: string;
  poolId: string;
  identityId: string | null;
  kind: OAuthFlowKind;
  purpose: OAuthFlowPurpose;
  status: OAuthFlowRow['status'];
  userCode: string | null;
  verificationUrl: string | null;
  intervalSeconds: number | null;
  pollAfter: Date | null;
  expiresAt: Date;
  errorCode: string | null;
  resultIdentityId: string | null;
};

/** A sign-in in the admin API's and the CLI's JSON: never the state, verifier or device id. */
export type OAuthFlowJson = {
  id: string;
  pool_id: string;
  kind: OAuthFlowKind;
  purpose: OAuthFlowPurpose;
  status: OAuthFlowRow['status'];
  user_code: string | null;
  verification_url: string | null;
  interval_seconds: number | null;
  poll_after: string | null;
  expires_at: string;
  error_code: string | null;
};

export function flowJson(flow: OAuthFlowView): OAuthFlowJson {
  return {
    id: flow.id,
    pool_id: flow.poolId,
    kind: flow.kind,
    purpose: flow.purpose,
    status: flow.status,
    user_code: flow.userCode,
    verification_url: flow.verificationUrl,
    interval_seconds: flow.intervalSeconds,
    poll_after: flow.pollAfter?.toISOString() ?? null,
    expires_at: flow.expiresAt.toISOString(),
    error_code: flow.errorCode,
  };
}

export type BrowserStart = { flow: OAuthFlowView; authorizeUrl: string };
export type DevicePollResult = { status: 'pending'; flow: OAuthFlowView } | { status: 'completed'; flow: OAuthFlowView; result: ImportResult };

/** Where a flow starts: a Pool, and for re-authentication the identity being relinked. */
export type FlowTarget = { pool: string; identityId?: string | null; inviteId?: string | null; source?: string };

/** Invite onboarding hooks: checked before the link, recorded in its transaction. */
export type LinkHooks = {
  check?(credentials: LinkCredentials): void;
  inTransaction?(tx: Tx, linked: LinkResult, credentials: LinkCredentials): Promise<void>;
  method?: OnboardingMethod;
};

const KEY_ENV = 'CODEX_POOLER_UPSTREAM_SECRET_KEY';

export const flowView = (row: OAuthFlowRow): OAuthFlowView => ({
  id: row.id,
  poolId: row.pool_id,
  identityId: row.upstream_identity_id,
  kind: row.flow_kind,
  purpose: row.purpose,
  status: row.status,
  userCode: row.device_user_code,
  verificationUrl: row.verification_uri,
  intervalSeconds: row.interval_seconds,
  pollAfter: row.poll_after_at,
  expiresAt: row.expires_at,
  errorCode: row.error_code,
  resultIdentityId: row.result_upstream_identity_id,
});

const issuerDeps = (deps: AccountDeps): IssuerDeps => ({ issuer: deps.authIssuer, dispatcher: deps.dispatcher });

/** AAD of a transient OAuth envelope (spec §3.1): binds it to this flow, Pool, target and purpose. */
function envelopeAad(flow: { id: string; pool_id: string; upstream_identity_id: string | null; purpose: string; flow_kind: string }, secretKind: 'code_verifier' | 'device_auth_id') {
  return { key_env: KEY_ENV, domain: 'upstream_oauth_flow', secret_kind: secretKind, flow_id: flow.id, pool_id: flow.pool_id, upstream_identity_id: flow.upstream_identity_id ?? '', purpose: flow.purpose, flow_kind: flow.flow_kind };
}

function oauthError(failure: OAuthFailure | { code: OAuthFailureCode | 'flow_not_pending' | 'stale_flow'; message: string }): PoolerError {
  return new PoolerError(failure.code, failure.message);
}

async function resolveTarget(deps: AccountDeps, target: FlowTarget): Promise<{ poolId: string; identityId: string | null; purpose: OAuthFlowPurpose }> {
  const pool = await findPool(deps.db, target.pool);
  if (pool.status !== 'active') throw new PoolerError('pool_not_found', `pool ${pool.slug} is ${pool.status}; accounts can only be signed in to an active pool`, { param: 'pool_id' });
  if (!target.identityId) return { poolId: pool.id, identityId: null, purpose: 'link' };
  // A relink target must be in the Pool.
  const assignment = await deps.db.selectFrom('pool_upstream_assignments').select('id').where('pool_id', '=', pool.id).where('upstream_identity_id', '=', target.identityId).where('status', '<>', 'deleted').executeTakeFirst();
  if (!assignment) throw new PoolerError('not_found', 'the account to re-authenticate is not in this pool', { param: 'id' });
  return { poolId: pool.id, identityId: target.identityId, purpose: 'relink' };
}

/**
 * Inserts a pending flow; under an advisory lock on (Pool, identity, purpose, invite) older pending
 * flows for the same thing become `cancelled` (`stale_flow`), so only the newest can complete.
 */
async function insertFlow(deps: AccountDeps, actor: Actor, values: { id: string; poolId: string; identityId: string | null; inviteId: string | null; purpose: OAuthFlowPurpose; kind: OAuthFlowKind; source?: string } & Partial<OAuthFlowRow>): Promise<OAuthFlowRow> {
  const { id, poolId, identityId, inviteId, purpose, kind, source, ...columns } = values;
  return deps.db.transaction().execute(async (tx) => {
    const lockKey = `oauth-flow:${poolId}:${identityId ?? 'none'}:${purpose}:${inviteId ?? 'none'}`;
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`.execute(tx);
    const now = new Date();
    let stale = tx
      .updateTable('upstream_oauth_flows')
      .set({ status: 'cancelled', cancelled_at: now, error_code: 'stale_flow', error_message: 'a newer sign-in replaced this one', updated_at: now })
      .where('pool_id', '=', poolId)
      .where('purpose', '=', purpose)
      .where('status', '=', 'pending');
    stale = identityId ? stale.where('upstream_identity_id', '=', identityId) : stale.where('upstream_identity_id', 'is', null);
    stale = inviteId ? stale.where('invite_id', '=', inviteId) : stale.where('invite_id', 'is', null);
    await stale.execute();
    return tx
      .insertInto('upstream_oauth_flows')
      .values({
        id,
        pool_id: poolId,
        upstream_identity_id: identityId,
        invite_id: inviteId,
        requested_by_user_id: actor.type === 'user' ? actor.userId : null,
        flow_kind: kind,
        purpose,
        state_token_hash: null,
        redirect_uri: null,
        code_verifier_ciphertext: null,
        device_auth_id_ciphertext: null,
        device_user_code: null,
        verification_uri: null,
        interval_seconds: null,
        poll_after_at: null,
        expires_at: new Date(now.getTime() + FLOW_TTL_MS),
        completed_at: null,
        cancelled_at: null,
        last_polled_at: null,
        result_upstream_identity_id: null,
        error_code: null,
        error_message: null,
        metadata: JSON.stringify({ source: (source ?? 'admin').slice(0, 256), initiated_from: actor.type === 'user' ? 'operator' : actor.label.slice(0, 256) }) as unknown as Record<string, unknown>,
        ...columns,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Starts a browser (PKCE) sign-in: answers the authorize URL the operator opens. */
export async function startBrowserFlow(deps: AccountDeps, actor: Actor, target: FlowTarget): Promise<BrowserStart> {
  const { poolId, identityId, purpose } = await resolveTarget(deps, target);
  const id = randomUUID();
  const state = mintOpaqueToken();
  const pkce = newPkce();
  const verifier = sealJsonEnvelope(deps.keyring, pkce.verifier, envelopeAad({ id, pool_id: poolId, upstream_identity_id: identityId, purpose, flow_kind: 'browser' }, 'code_verifier'));
  const row = await insertFlow(deps, actor, {
    id,
    poolId,
    identityId,
    inviteId: null,
    purpose,
    kind: 'browser',
    source: target.source,
    state_token_hash: state.digest,
    redirect_uri: BROWSER_REDIRECT_URI,
    code_verifier_ciphertext: verifier,
  });
  return { flow: flowView(row), authorizeUrl: buildAuthorizeUrl({ issuer: deps.authIssuer, state: state.token, codeChallenge: pkce.challenge }) };
}

/** Starts a device-code sign-in: answers the code and the page where the account owner enters it. */
export async function startDeviceFlow(deps: AccountDeps, actor: Actor, target: FlowTarget): Promise<OAuthFlowView> {
  const { poolId, identityId, purpose } = await resolveTarget(deps, target);
  const now = new Date();
  const device = await requestDeviceCode(issuerDeps(deps), now);
  if (!device.ok) throw oauthError(device);
  const id = randomUUID();
  const sealed = sealJsonEnvelope(deps.keyring, device.value.deviceAuthId, envelopeAad({ id, pool_id: poolId, upstream_identity_id: identityId, purpose, flow_kind: 'device' }, 'device_auth_id'));
  const row = await insertFlow(deps, actor, {
    id,
    poolId,
    identityId,
    inviteId: target.inviteId ?? null,
    purpose,
    kind: 'device',
    source: target.source,
    redirect_uri: deviceRedirectUri(deps.authIssuer),
    device_auth_id_ciphertext: sealed,
    device_user_code: device.value.userCode,
    verification_uri: device.value.verificationUrl,
    interval_seconds: device.value.intervalSeconds,
    poll_after_at: now,
    expires_at: new Date(Math.min(device.value.expiresAt.getTime(), now.getTime() + FLOW_TTL_MS)),
  });
  return flowView(row);
}

export async function getFlow(deps: Pick<AccountDeps, 'db'>, flowId: string): Promise<OAuthFlowRow> {
  const row = await deps.db.selectFrom('upstream_oauth_flows').selectAll().where('id', '=', flowId).executeTakeFirst();
  if (!row) throw new PoolerError('not_found', 'this sign-in does not exist', { param: 'flow_id' });
  return row;
}

async function failFlow(deps: AccountDeps, flowId: string, status: 'failed' | 'expired', failure: { code: string; message: string }): Promise<void> {
  const now = new Date();
  await deps.db
    .updateTable('upstream_oauth_flows')
    .set({ status, error_code: failure.code, error_message: failure.message.slice(0, 500), updated_at: now })
    .where('id', '=', flowId)
    .where('status', '=', 'pending')
    .execute();
}

/** A flow that can still complete; pending flows past their expiry are expired on access. */
async function pendingFlow(deps: AccountDeps, flowId: string, kind: OAuthFlowKind): Promise<OAuthFlowRow> {
  const row = await getFlow(deps, flowId);
  if (row.flow_kind !== kind) throw new PoolerError('invalid_request', `this sign-in is a ${row.flow_kind} flow`, { param: 'flow_id' });
  if (row.status === 'cancelled' && row.error_code === 'stale_flow') throw oauthError({ code: 'stale_flow', message: 'a newer sign-in for this account replaced this one; use the newest' });
  if (row.status !== 'pending') throw oauthError({ code: 'flow_not_pending', message: `this sign-in is already ${row.status}` });
  if (row.expires_at.getTime() <= Date.now()) {
    await failFlow(deps, row.id, 'expired', { code: 'expired_flow', message: 'the sign-in expired' });
    throw oauthError({ code: 'expired_flow', message: 'this sign-in expired after 10 minutes; start a new one' });
  }
  return row;
}

/** Marks the flow failed with the error and throws it. */
async function rejectFlow(deps: AccountDeps, flowId: string, failure: OAuthFailure): Promise<never> {
  await failFlow(deps, flowId, 'failed', failure);
  throw oauthError(failure);
}

/** Finishes the browser flow from the localhost address the browser ended on. */
export async function completeBrowserFlow(deps: AccountDeps, actor: Actor, input: { flowId: string; callbackUrl: string }): Promise<{ flow: OAuthFlowView; result: ImportResult }> {
  const flow = await pendingFlow(deps, input.flowId, 'browser');
  const callback = parseCallbackUrl(input.callbackUrl);
  if (!callback.ok) return rejectFlow(deps, flow.id, callback);
  const presented = sha256(callback.state);
  if (!flow.state_token_hash || presented.length !== flow.state_token_hash.length || !timingSafeEqual(presented, flow.state_token_hash)) {
    return rejectFlow(deps, flow.id, { ok: false, code: 'invalid_state', message: 'the callback address belongs to another sign-in (state does not match)' });
  }
  if (callback.outcome.kind === 'error') {
    const reason = /^[a-z_]{1,64}$/.test(callback.outcome.error) ? ` (${callback.outcome.error})` : '';
    return rejectFlow(deps, flow.id, { ok: false, code: 'provider_denied', message: `ChatGPT did not grant the sign-in${reason}` });
  }
  const verifier = openJsonEnvelope(deps.keyring, flow.code_verifier_ciphertext!, envelopeAad(flow, 'code_verifier'));
  const tokens = await exchangeAuthorizationCode(issuerDeps(deps), { code: callback.outcome.code, redirectUri: flow.redirect_uri ?? BROWSER_REDIRECT_URI, codeVerifier: verifier });
  if (!tokens.ok) return rejectFlow(deps, flow.id, tokens);
  return linkFromTokens(deps, actor, flow, tokens.value, 'upstream_account.oauth_browser_link', {});
}

/**
 * One poll of a device flow. Polls are claimed atomically (`poll_after_at`), so concurrent callers
 * (two tabs, a fast public page) never reach the issuer more often than its interval allows.
 */
export async function pollDeviceFlow(deps: AccountDeps, actor: Actor, flowId: string, hooks: LinkHooks = {}): Promise<DevicePollResult> {
  const flow = await pendingFlow(deps, flowId, 'device');
  const now = new Date();
  const interval = flow.interval_seconds ?? 5;
  const claimed = await deps.db
    .updateTable('upstream_oauth_flows')
    .set({ last_polled_at: now, poll_after_at: new Date(now.getTime() + interval * 1000), updated_at: now })
    .where('id', '=', flow.id)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('poll_after_at', 'is', null), eb('poll_after_at', '<=', now)]))
    .returningAll()
    .executeTakeFirst();
  if (!claimed) return { status: 'pending', flow: flowView(await getFlow(deps, flow.id)) };

  const deviceAuthId = openJsonEnvelope(deps.keyring, flow.device_auth_id_ciphertext!, envelopeAad(flow, 'device_auth_id'));
  const poll = await pollDeviceToken(issuerDeps(deps), { deviceAuthId, userCode: flow.device_user_code ?? '' });
  switch (poll.kind) {
    case 'pending':
      return { status: 'pending', flow: flowView(claimed) };
    case 'slow_down': {
      const slower = slowedInterval(interval);
      const row = await deps.db
        .updateTable('upstream_oauth_flows')
        .set({ interval_seconds: slower, poll_after_at: new Date(now.getTime() + slower * 1000), updated_at: new Date() })
        .where('id', '=', flow.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { status: 'pending', flow: flowView(row) };
    }
    case 'expired':
      await failFlow(deps, flow.id, 'expired', { code: 'expired_flow', message: 'the device code expired' });
      throw oauthError({ code: 'expired_flow', message: 'the device code expired before it was approved; start a new one' });
    case 'denied':
      return rejectFlow(deps, flow.id, { ok: false, code: 'provider_denied', message: 'the device code was denied at ChatGPT' });
    case 'failed':
      // Not a verdict on the code (an outage, an odd answer): the flow stays pending for the next poll.
      deps.log.warn({ flow: flow.id, reason: poll.message }, 'device code poll failed');
      return { status: 'pending', flow: flowView(claimed) };
    case 'approved': {
      const tokens = await exchangeAuthorizationCode(issuerDeps(deps), { code: poll.authorizationCode, redirectUri: deviceRedirectUri(deps.authIssuer), codeVerifier: poll.codeVerifier });
      if (!tokens.ok) return rejectFlow(deps, flow.id, tokens);
      const done = await linkFromTokens(deps, actor, flow, tokens.value, 'upstream_account.oauth_device_link', hooks);
      return { status: 'completed', ...done };
    }
  }
}

/** Identity facts of a relink target, and whether a legacy target has a concrete-workspace sibling. */
async function proveRelink(tx: Tx, identityId: string, credentials: LinkCredentials): Promise<OAuthFailure | null> {
  const stored = await tx.selectFrom('upstream_identities').selectAll().where('id', '=', identityId).forUpdate().executeTakeFirst();
  if (!stored || stored.status === 'deleted') return { ok: false, code: 'identity_mismatch', message: 'the account to re-authenticate no longer exists' };
  let hasConcreteSibling = false;
  if (stored.workspace_id === null && stored.chatgpt_user_id === null && stored.chatgpt_account_id !== null) {
    const sibling = await tx.selectFrom('upstream_identities').select('id').where('chatgpt_account_id', '=', stored.chatgpt_account_id).where('workspace_id', 'is not', null).where('status', '<>', 'deleted').where('id', '<>', stored.id).executeTakeFirst();
    hasConcreteSibling = sibling !== undefined;
  }
  const facts = (f: { chatgpt_account_id: string | null; chatgpt_user_id: string | null; account_email: string | null; workspace_id: string | null; plan_family: string | null; seat_type: string | null }) => ({
    chatgptAccountId: f.chatgpt_account_id,
    chatgptUserId: f.chatgpt_user_id,
    email: f.account_email,
    workspaceId: f.workspace_id,
    planFamily: f.plan_family,
    seatType: f.seat_type,
  });
  const proof = relinkProof(
    facts(stored),
    facts({ chatgpt_account_id: credentials.chatgptAccountId, chatgpt_user_id: credentials.chatgptUserId, account_email: credentials.email, workspace_id: credentials.workspaceId, plan_family: credentials.planFamily, seat_type: credentials.seatType }),
    { hasConcreteSibling },
  );
  return proof.ok ? null : proof;
}

class FlowRejected extends Error {
  readonly failure: OAuthFailure;
  constructor(failure: OAuthFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

/** Links the signed-in account (relink proof first), completes the flow, all in one transaction. */
async function linkFromTokens(
  deps: AccountDeps,
  actor: Actor,
  flow: OAuthFlowRow,
  tokens: { accessToken: string; idToken: string; refreshToken: string | null },
  auditAction: string,
  hooks: LinkHooks,
): Promise<{ flow: OAuthFlowView; result: ImportResult }> {
  const credentials = credentialsFromTokens(tokens, new Date());
  if (!credentials.ok) return rejectFlow(deps, flow.id, credentials);
  try {
    hooks.check?.(credentials.value);
  } catch (error) {
    if (error instanceof PoolerError) await failFlow(deps, flow.id, 'failed', { code: error.code, message: error.message });
    throw error;
  }
  let linked: LinkResult;
  let completed: OAuthFlowRow;
  try {
    [linked, completed] = await deps.db.transaction().execute(async (tx) => {
      const current = await tx.selectFrom('upstream_oauth_flows').select('status').where('id', '=', flow.id).forUpdate().executeTakeFirstOrThrow();
      if (current.status !== 'pending') throw new PoolerError('flow_not_pending', `this sign-in is already ${current.status}`);
      if (flow.purpose === 'relink' && flow.upstream_identity_id) {
        const failure = await proveRelink(tx, flow.upstream_identity_id, credentials.value);
        if (failure) throw new FlowRejected(failure);
      }
      const method: OnboardingMethod = hooks.method ?? flow.flow_kind;
      const result = await linkAccount(tx, deps.keyring, actor, {
        poolId: flow.pool_id,
        credentials: credentials.value,
        label: null,
        method,
        auditAction,
        targetIdentityId: flow.purpose === 'relink' ? flow.upstream_identity_id : null,
        auditDetails: { flow_id: flow.id, purpose: flow.purpose },
      });
      await hooks.inTransaction?.(tx, result, credentials.value);
      const now = new Date();
      const row = await tx
        .updateTable('upstream_oauth_flows')
        .set({ status: 'completed', completed_at: now, result_upstream_identity_id: result.identityId, updated_at: now })
        .where('id', '=', flow.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return [result, row] as const;
    });
  } catch (error) {
    if (error instanceof FlowRejected) {
      await recordAudit(deps.db, { actor, action: auditAction, poolId: flow.pool_id, targetType: 'upstream_identity', targetId: flow.upstream_identity_id, outcome: 'failure', details: { flow_id: flow.id, reason: error.failure.code } });
      return rejectFlow(deps, flow.id, error.failure);
    }
    if (error instanceof PoolerError && error.code !== 'flow_not_pending') await failFlow(deps, flow.id, 'failed', { code: error.code, message: error.message });
    throw error;
  }
  const result = await afterLink(deps, flow.pool_id, linked, credentials.value);
  return { flow: flowView(completed), result };
}
