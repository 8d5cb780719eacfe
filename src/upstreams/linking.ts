// One way an upstream account gets its credentials (control-plane spec §5.1): auth.json import,
// browser and device-code OAuth, re-authentication and invites all link through `linkAccount`, in
// the caller's transaction, so the flow or invite bookkeeping commits together with the link.

import { recordAudit, type Actor } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import { jsonb, type Tx } from '../db/index.ts';
import type { UpstreamIdentityRow } from './account.table.ts';
import type { ImportedCredentials } from './auth-json.ts';
import { storeSecret } from './secrets.ts';

/** What a link stores. OAuth answers may come without a refresh token (the account then needs a new sign-in when the access token expires). */
export type LinkCredentials = Omit<ImportedCredentials, 'refreshToken'> & { refreshToken: string | null };

export type OnboardingMethod = 'browser' | 'device' | 'import' | 'invite';

export type LinkInput = {
  poolId: string;
  credentials: LinkCredentials;
  label: string | null;
  method: OnboardingMethod;
  /** Audit action written for the Pool, e.g. `upstream_account.import`. */
  auditAction: string;
  /** Re-authentication: the identity to update (already proven to be the same account). */
  targetIdentityId?: string | null;
  auditDetails?: Record<string, unknown>;
};

export type LinkResult = { identityId: string; assignmentId: string; created: boolean; recoveredFrom: string | null };

/** Same ChatGPT account (and, when known, same user and workspace) = same identity. */
async function findIdentity(tx: Tx, credentials: LinkCredentials, targetIdentityId: string | null | undefined): Promise<UpstreamIdentityRow | undefined> {
  if (targetIdentityId) return tx.selectFrom('upstream_identities').selectAll().where('id', '=', targetIdentityId).forUpdate().executeTakeFirst();
  let query = tx.selectFrom('upstream_identities').selectAll().where('chatgpt_account_id', '=', credentials.chatgptAccountId).where('status', '<>', 'deleted');
  query = credentials.workspaceId ? query.where((eb) => eb.or([eb('workspace_id', '=', credentials.workspaceId), eb('workspace_id', 'is', null)])) : query;
  query = credentials.chatgptUserId ? query.where((eb) => eb.or([eb('chatgpt_user_id', '=', credentials.chatgptUserId), eb('chatgpt_user_id', 'is', null)])) : query;
  return query.forUpdate().executeTakeFirst();
}

/**
 * Picks or creates the identity, stores the tokens (superseding older ones), makes it `active` and
 * upserts its assignment in the Pool as active/eligible; writes the audit row. Caller commits.
 */
export async function linkAccount(tx: Tx, keyring: Keyring, actor: Actor, input: LinkInput): Promise<LinkResult> {
  const { credentials, poolId, label } = input;
  const now = new Date();
  const existing = await findIdentity(tx, credentials, input.targetIdentityId);
  const previousTokenRefresh = (existing?.metadata.token_refresh as Record<string, unknown> | undefined) ?? {};
  const tokenRefresh = { status: 'imported', generation: Number(previousTokenRefresh.generation ?? 0) + 1, trigger_kind: input.method, imported_at: now.toISOString() };
  const transition = { event: input.method === 'import' ? 'import' : existing ? 'relink' : 'link', at: now.toISOString(), reason: input.method };
  const identityFields = {
    chatgpt_account_id: credentials.chatgptAccountId,
    chatgpt_user_id: credentials.chatgptUserId ?? existing?.chatgpt_user_id ?? null,
    account_email: credentials.email ?? existing?.account_email ?? null,
    workspace_id: credentials.workspaceId ?? existing?.workspace_id ?? null,
    workspace_label: credentials.workspaceLabel ?? existing?.workspace_label ?? null,
    seat_type: credentials.seatType ?? existing?.seat_type ?? null,
    status: 'active' as const,
    plan_family: credentials.planFamily,
    plan_label: credentials.planType,
    credential_provenance: 'codex_chatgpt_oauth',
    auth_fresh_at: now,
    auth_verified_at: now,
    access_token_expires_at: credentials.accessTokenExpiresAt,
    disabled_at: null,
    updated_at: now,
  };
  let identityId: string;
  if (existing) {
    identityId = existing.id;
    await tx
      .updateTable('upstream_identities')
      .set({ ...identityFields, credential_epoch: existing.credential_epoch + 1, metadata: jsonb({ ...existing.metadata, token_refresh: tokenRefresh, last_lifecycle_transition: transition }) })
      .where('id', '=', identityId)
      .execute();
  } else {
    const inserted = await tx
      .insertInto('upstream_identities')
      .values({
        ...identityFields,
        account_label: label?.trim() || credentials.accountLabel,
        onboarding_method: input.method,
        last_successful_refresh_at: null,
        last_successful_sync_at: null,
        created_by_user_id: actor.type === 'user' ? actor.userId : null,
        metadata: jsonb({ token_refresh: tokenRefresh, last_lifecycle_transition: transition }),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    identityId = inserted.id;
  }
  await storeSecret(tx, keyring, identityId, 'access_token', credentials.accessToken);
  if (credentials.refreshToken) await storeSecret(tx, keyring, identityId, 'refresh_token', credentials.refreshToken);
  await storeSecret(tx, keyring, identityId, 'id_token', credentials.idToken);
  // Credentials for the same account in other pools changed too: they share the identity.
  await tx
    .updateTable('pool_upstream_assignments')
    .set({ status: 'active', health_status: 'active', eligibility_status: 'eligible', updated_at: now })
    .where('upstream_identity_id', '=', identityId)
    .where('status', 'in', ['reauth_required', 'refresh_failed', 'refreshing', 'pending'])
    .execute();

  const existingAssignment = await tx.selectFrom('pool_upstream_assignments').select(['id', 'status']).where('pool_id', '=', poolId).where('upstream_identity_id', '=', identityId).executeTakeFirst();
  let assignmentId: string;
  if (existingAssignment) {
    assignmentId = existingAssignment.id;
    // A re-link of a disabled account keeps the operator's decision; anything else is reactivated.
    const status = existingAssignment.status === 'disabled' ? 'disabled' : 'active';
    await tx
      .updateTable('pool_upstream_assignments')
      .set({ status, health_status: status === 'active' ? 'active' : 'disabled', eligibility_status: status === 'active' ? 'eligible' : 'ineligible', cooldown_until: null, cooldown_reason: null, disabled_at: status === 'active' ? null : now, updated_at: now })
      .where('id', '=', assignmentId)
      .execute();
  } else {
    const inserted = await tx
      .insertInto('pool_upstream_assignments')
      .values({ pool_id: poolId, upstream_identity_id: identityId, assignment_label: label?.trim() || null, status: 'active', health_status: 'active', eligibility_status: 'eligible', cooldown_until: null, cooldown_reason: null, last_healthcheck_at: null, last_successful_refresh_at: null, last_successful_sync_at: null, last_success_at: null, disabled_at: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    assignmentId = inserted.id;
  }
  const created = !existing && !existingAssignment;
  const recoveredFrom = existing && existing.status !== 'active' ? existing.status : null;
  await recordAudit(tx, {
    actor,
    action: input.auditAction,
    poolId,
    targetType: 'pool_upstream_assignment',
    targetId: assignmentId,
    details: { created, plan_family: credentials.planFamily, email_domain: credentials.email?.split('@')[1] ?? null, ...(recoveredFrom ? { previous_status: recoveredFrom } : {}), ...input.auditDetails },
  });
  return { identityId, assignmentId, created, recoveredFrom };
}
