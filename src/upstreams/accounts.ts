import { request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { recordAudit, type Actor } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import { isUuid, jsonb, ROUTING_CHANNEL, type Db, type Notifier, type Tx } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { findPool } from '../pools/index.ts';
import type { AccountStatus } from './account.table.ts';
import { AUTH_JSON_MAX_BYTES, parseAuthJson, type ImportedCredentials } from './auth-json.ts';
import { modelEntriesFrom, saveCatalog } from './catalog.ts';
import { CREDENTIALS_CHANNEL } from './credentials.ts';
import { quotaFromUsageDocument } from './quota-evidence.ts';
import { saveQuotaWindows } from './quota-store.ts';
import { storeSecret } from './secrets.ts';
import { buildUpstreamHeaders, CODEX_CLIENT_VERSION } from './upstream-http.ts';

export { ROUTING_CHANNEL };

export type AccountState = AccountStatus | 'cooling_down';

export type QuotaWindowView = { used_percent: number | null; window_minutes: number | null; resets_at: string | null; stale: boolean };

export type AccountView = {
  id: string;
  identityId: string;
  poolId: string;
  poolSlug: string;
  label: string;
  email: string | null;
  chatgptAccountId: string | null;
  plan: string | null;
  state: AccountState;
  cooldownUntil: Date | null;
  accessTokenExpiresAt: Date | null;
  lastSuccessAt: Date | null;
  quota: { primary: QuotaWindowView | null; secondary: QuotaWindowView | null };
};

export type AccountDeps = {
  db: Db;
  keyring: Keyring;
  notifier: Notifier;
  dispatcher: Dispatcher;
  upstreamBaseUrl: string;
  log: Logger;
};

export type ImportResult = { account: AccountView; created: boolean; primed: { models: number; quota: boolean } };

const QUOTA_FRESH_MS = 15 * 60_000;
const PRIME_BUDGET_MS = 4_000;

/** The state an operator sees: the assignment's own state, else the account's, with cooldowns. */
export function accountState(assignmentStatus: AccountStatus, identityStatus: AccountStatus, cooldownUntil: Date | null, now: Date): AccountState {
  if (assignmentStatus === 'disabled' || assignmentStatus === 'paused' || assignmentStatus === 'deleted') return assignmentStatus;
  if (identityStatus !== 'active' && identityStatus !== 'refreshing') return identityStatus;
  if (cooldownUntil && cooldownUntil.getTime() > now.getTime()) return 'cooling_down';
  return identityStatus;
}

/**
 * Imports a Codex auth.json into a pool. The same ChatGPT account imported again updates its
 * credentials instead of creating a second account. Nothing is stored when the file is invalid.
 */
export async function importAuthJson(deps: AccountDeps, actor: Actor, input: { pool: string; authJson: string; label?: string | null }): Promise<ImportResult> {
  if (Buffer.byteLength(input.authJson, 'utf8') > AUTH_JSON_MAX_BYTES) throw invalidInput(`auth.json must be at most ${AUTH_JSON_MAX_BYTES} bytes`, 'auth_json');
  const parsed = parseAuthJson(input.authJson, new Date());
  if (!parsed.ok) throw new PoolerError('invalid_request', `auth.json is invalid: ${parsed.message}`, { param: parsed.field ?? 'auth_json' });
  const pool = await findPool(deps.db, input.pool);
  if (pool.status !== 'active') throw new PoolerError('conflict', `pool ${pool.slug} is ${pool.status}; accounts can only be imported into an active pool`, { param: 'pool' });
  const credentials = parsed.value;

  const { identityId, assignmentId, created } = await deps.db.transaction().execute((tx) => linkIdentity(tx, deps.keyring, actor, pool.id, credentials, input.label ?? null));
  await deps.notifier.publish(CREDENTIALS_CHANNEL, identityId);
  const primed = await primeAccount(deps, { poolId: pool.id, identityId, accessToken: credentials.accessToken, chatgptAccountId: credentials.chatgptAccountId });
  await deps.notifier.publish(ROUTING_CHANNEL, pool.id);
  const account = await getAccount(deps.db, assignmentId);
  return { account, created, primed };
}

async function linkIdentity(tx: Tx, keyring: Keyring, actor: Actor, poolId: string, credentials: ImportedCredentials, label: string | null) {
  const now = new Date();
  // Same ChatGPT account (and, when known, same user and workspace) = same identity.
  let query = tx.selectFrom('upstream_identities').selectAll().where('chatgpt_account_id', '=', credentials.chatgptAccountId).where('status', '<>', 'deleted');
  query = credentials.workspaceId ? query.where((eb) => eb.or([eb('workspace_id', '=', credentials.workspaceId), eb('workspace_id', 'is', null)])) : query;
  query = credentials.chatgptUserId ? query.where((eb) => eb.or([eb('chatgpt_user_id', '=', credentials.chatgptUserId), eb('chatgpt_user_id', 'is', null)])) : query;
  const existing = await query.forUpdate().executeTakeFirst();
  const identityFields = {
    chatgpt_account_id: credentials.chatgptAccountId,
    chatgpt_user_id: credentials.chatgptUserId,
    account_email: credentials.email,
    workspace_id: credentials.workspaceId,
    workspace_label: credentials.workspaceLabel,
    seat_type: credentials.seatType,
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
  const identityCreated = !existing;
  if (existing) {
    identityId = existing.id;
    await tx
      .updateTable('upstream_identities')
      .set({
        ...identityFields,
        credential_epoch: existing.credential_epoch + 1,
        metadata: jsonb({ ...existing.metadata, token_refresh: { status: 'imported', imported_at: now.toISOString() }, last_lifecycle_transition: { event: 'import', at: now.toISOString() } }),
      })
      .where('id', '=', identityId)
      .execute();
  } else {
    const inserted = await tx
      .insertInto('upstream_identities')
      .values({
        ...identityFields,
        account_label: label?.trim() || credentials.accountLabel,
        onboarding_method: 'import',
        last_successful_refresh_at: null,
        last_successful_sync_at: null,
        created_by_user_id: actor.type === 'user' ? actor.userId : null,
        metadata: jsonb({ token_refresh: { status: 'imported', imported_at: now.toISOString() }, last_lifecycle_transition: { event: 'import', at: now.toISOString() } }),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    identityId = inserted.id;
  }
  await storeSecret(tx, keyring, identityId, 'access_token', credentials.accessToken);
  await storeSecret(tx, keyring, identityId, 'refresh_token', credentials.refreshToken);
  await storeSecret(tx, keyring, identityId, 'id_token', credentials.idToken);
  // Credentials for the same account in other pools changed too: they share the identity.
  await tx
    .updateTable('pool_upstream_assignments')
    .set({ status: 'active', health_status: 'active', eligibility_status: 'eligible', updated_at: now })
    .where('upstream_identity_id', '=', identityId)
    .where('status', 'in', ['reauth_required', 'refresh_failed', 'refreshing'])
    .execute();

  const existingAssignment = await tx.selectFrom('pool_upstream_assignments').select(['id', 'status']).where('pool_id', '=', poolId).where('upstream_identity_id', '=', identityId).executeTakeFirst();
  let assignmentId: string;
  if (existingAssignment) {
    assignmentId = existingAssignment.id;
    // A re-import of a disabled account keeps the operator's decision; anything else is reactivated.
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
  const created = identityCreated && !existingAssignment;
  await recordAudit(tx, {
    actor,
    action: 'upstream_account.import',
    poolId,
    targetType: 'pool_upstream_assignment',
    targetId: assignmentId,
    details: { created, plan_family: credentials.planFamily, email_domain: credentials.email?.split('@')[1] ?? null },
  });
  return { identityId, assignmentId, created };
}

/**
 * Best effort, bounded: reads the account's model list and usage so it serves the very next
 * request with a catalog and quota evidence. A failure here never fails the import.
 */
export async function primeAccount(deps: AccountDeps, target: { poolId: string; identityId: string; accessToken: string; chatgptAccountId: string | null }): Promise<{ models: number; quota: boolean }> {
  const headers = buildUpstreamHeaders({ account: { accessToken: target.accessToken, chatgptAccountId: target.chatgptAccountId }, stream: false, json: false });
  const signal = AbortSignal.timeout(PRIME_BUDGET_MS);
  const fetchJson = async (path: string): Promise<unknown> => {
    const response = await request(`${deps.upstreamBaseUrl}${path}`, { method: 'GET', headers, dispatcher: deps.dispatcher, signal });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`GET ${path} answered ${response.statusCode}`);
    return JSON.parse(text) as unknown;
  };
  const [models, usage] = await Promise.allSettled([
    fetchJson(`/backend-api/codex/models?client_version=${CODEX_CLIENT_VERSION}`),
    fetchJson('/backend-api/wham/usage'),
  ]);
  const now = new Date();
  let modelCount = 0;
  let quota = false;
  try {
    if (models.status === 'fulfilled') {
      const entries = modelEntriesFrom(models.value);
      await saveCatalog(deps.db, target.poolId, entries, now, target.identityId);
      modelCount = entries.length;
    } else deps.log.warn({ account: target.identityId, reason: String(models.reason) }, 'account priming could not read the model list');
    if (usage.status === 'fulfilled') {
      const evidence = quotaFromUsageDocument(usage.value, now);
      await saveQuotaWindows(deps.db, [{ identityId: target.identityId, windows: evidence.windows, observedAt: now }]);
      quota = evidence.windows.length > 0;
    } else deps.log.warn({ account: target.identityId, reason: String(usage.reason) }, 'account priming could not read usage');
    await deps.db.updateTable('pool_upstream_assignments').set({ last_successful_sync_at: now, last_healthcheck_at: now }).where('pool_id', '=', target.poolId).where('upstream_identity_id', '=', target.identityId).execute();
  } catch (error) {
    deps.log.warn({ err: error, account: target.identityId }, 'account priming results could not be stored');
  }
  return { models: modelCount, quota };
}

function quotaView(row: { used_percent: string | null; window_minutes: number | null; reset_at: Date | null; observed_at: Date } | undefined, now: Date): QuotaWindowView | null {
  if (!row) return null;
  return {
    used_percent: row.used_percent === null ? null : Number(row.used_percent),
    window_minutes: row.window_minutes,
    resets_at: row.reset_at?.toISOString() ?? null,
    stale: now.getTime() - row.observed_at.getTime() > QUOTA_FRESH_MS,
  };
}

function accountsQuery(db: Db) {
  return db
    .selectFrom('pool_upstream_assignments as a')
    .innerJoin('upstream_identities as i', 'i.id', 'a.upstream_identity_id')
    .innerJoin('pools as p', 'p.id', 'a.pool_id')
    .select([
      'a.id',
      'a.pool_id',
      'p.slug as pool_slug',
      'a.status as assignment_status',
      'a.cooldown_until',
      'a.assignment_label',
      'a.last_success_at',
      'i.id as identity_id',
      'i.status as identity_status',
      'i.account_label',
      'i.account_email',
      'i.chatgpt_account_id',
      'i.plan_family',
      'i.access_token_expires_at',
    ])
    .where('a.status', '<>', 'deleted');
}

async function toViews(db: Db, rows: Awaited<ReturnType<ReturnType<typeof accountsQuery>['execute']>>): Promise<AccountView[]> {
  const identityIds = [...new Set(rows.map((r) => r.identity_id))];
  const windows = identityIds.length
    ? await db.selectFrom('account_quota_windows').select(['upstream_identity_id', 'window_kind', 'used_percent', 'window_minutes', 'reset_at', 'observed_at']).where('upstream_identity_id', 'in', identityIds).where('quota_key', '=', 'account').where('model', '=', '').execute()
    : [];
  const now = new Date();
  return rows.map((row) => ({
    id: row.id,
    identityId: row.identity_id,
    poolId: row.pool_id,
    poolSlug: row.pool_slug,
    label: row.assignment_label ?? row.account_label,
    email: row.account_email,
    chatgptAccountId: row.chatgpt_account_id,
    plan: row.plan_family,
    state: accountState(row.assignment_status, row.identity_status, row.cooldown_until, now),
    cooldownUntil: row.cooldown_until && row.cooldown_until > now ? row.cooldown_until : null,
    accessTokenExpiresAt: row.access_token_expires_at,
    lastSuccessAt: row.last_success_at,
    quota: {
      primary: quotaView(windows.find((w) => w.upstream_identity_id === row.identity_id && w.window_kind === 'primary'), now),
      secondary: quotaView(windows.find((w) => w.upstream_identity_id === row.identity_id && w.window_kind === 'secondary'), now),
    },
  }));
}

export async function listAccounts(db: Db, filter: { pool?: string } = {}): Promise<AccountView[]> {
  let query = accountsQuery(db).orderBy('p.slug').orderBy('a.created_at');
  if (filter.pool) query = query.where('a.pool_id', '=', (await findPool(db, filter.pool)).id);
  return toViews(db, await query.execute());
}

export async function getAccount(db: Db, id: string): Promise<AccountView> {
  if (!isUuid(id.trim())) throw invalidInput('account id must be a uuid (see `accounts list`)', 'id');
  const row = await accountsQuery(db).where('a.id', '=', id.trim()).executeTakeFirst();
  if (!row) throw new PoolerError('not_found', `account ${id} does not exist`, { param: 'id' });
  return (await toViews(db, [row]))[0]!;
}

async function setAssignmentStatus(deps: Pick<AccountDeps, 'db' | 'notifier'>, actor: Actor, id: string, target: 'disabled' | 'active'): Promise<AccountView> {
  const account = await getAccount(deps.db, id);
  const now = new Date();
  await deps.db.transaction().execute(async (tx) => {
    await tx
      .updateTable('pool_upstream_assignments')
      .set(
        target === 'disabled'
          ? { status: 'disabled', health_status: 'disabled', eligibility_status: 'ineligible', disabled_at: now, updated_at: now }
          : { status: 'active', health_status: 'active', eligibility_status: 'eligible', disabled_at: null, cooldown_until: null, cooldown_reason: null, updated_at: now },
      )
      .where('id', '=', account.id)
      .execute();
    await recordAudit(tx, { actor, action: target === 'disabled' ? 'upstream_account.disable' : 'upstream_account.enable', poolId: account.poolId, targetType: 'pool_upstream_assignment', targetId: account.id, details: { previous_state: account.state } });
  });
  await deps.notifier.publish(ROUTING_CHANNEL, account.poolId);
  return getAccount(deps.db, account.id);
}

export const disableAccount = (deps: Pick<AccountDeps, 'db' | 'notifier'>, actor: Actor, id: string) => setAssignmentStatus(deps, actor, id, 'disabled');
export const enableAccount = (deps: Pick<AccountDeps, 'db' | 'notifier'>, actor: Actor, id: string) => setAssignmentStatus(deps, actor, id, 'active');

/** Removes an account from its pool; its credentials go when no pool uses it any more. */
export async function removeAccount(deps: Pick<AccountDeps, 'db' | 'notifier'>, actor: Actor, id: string): Promise<AccountView> {
  const account = await getAccount(deps.db, id);
  await deps.db.transaction().execute(async (tx) => {
    await tx.deleteFrom('pool_upstream_assignments').where('id', '=', account.id).execute();
    const others = await tx.selectFrom('pool_upstream_assignments').select('id').where('upstream_identity_id', '=', account.identityId).executeTakeFirst();
    if (!others) await tx.deleteFrom('upstream_identities').where('id', '=', account.identityId).execute();
    await recordAudit(tx, { actor, action: 'upstream_account.remove', poolId: account.poolId, targetType: 'pool_upstream_assignment', targetId: account.id, details: { credentials_deleted: !others } });
  });
  await deps.notifier.publish(ROUTING_CHANNEL, account.poolId);
  await deps.notifier.publish(CREDENTIALS_CHANNEL, account.identityId);
  return { ...account, state: 'deleted' };
}
