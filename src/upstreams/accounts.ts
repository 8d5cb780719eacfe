import { request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { recordAudit, type Actor } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import { isUuid, ROUTING_CHANNEL, type Db, type Notifier } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { findPool } from '../pools/index.ts';
import type { AccountStatus } from './account.table.ts';
import { AUTH_JSON_MAX_BYTES, parseAuthJson } from './auth-json.ts';
import { modelEntriesFrom, saveCatalog } from './catalog.ts';
import { CREDENTIALS_CHANNEL } from './credentials.ts';
import { QUOTA_FRESH_MS, quotaFromUsageDocument } from './quota-evidence.ts';
import { saveQuotaWindows } from './quota-store.ts';
import { linkAccount, type LinkResult } from './linking.ts';
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
  /** OAuth issuer for sign-in (browser, device code); refresh reads it from the credential store. */
  authIssuer: string;
  /** Absolute base of links the instance hands out (invite URLs): from PHX_HOST. */
  publicUrl: string;
};

export type ImportResult = { account: AccountView; created: boolean; primed: { models: number; quota: boolean } };

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

  const linked = await deps.db.transaction().execute((tx) =>
    linkAccount(tx, deps.keyring, actor, { poolId: pool.id, credentials, label: input.label ?? null, method: 'import', auditAction: 'upstream_account.import' }),
  );
  return afterLink(deps, pool.id, linked, credentials);
}

/** After a link committed: caches learn the new credentials, the account is primed, routing reloads. */
export async function afterLink(deps: AccountDeps, poolId: string, linked: LinkResult, credentials: { accessToken: string; chatgptAccountId: string | null }): Promise<ImportResult> {
  await deps.notifier.publish(CREDENTIALS_CHANNEL, linked.identityId);
  const primed = await primeAccount(deps, { poolId, identityId: linked.identityId, accessToken: credentials.accessToken, chatgptAccountId: credentials.chatgptAccountId });
  await deps.notifier.publish(ROUTING_CHANNEL, poolId);
  const account = await getAccount(deps.db, linked.assignmentId);
  return { account, created: linked.created, primed };
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
