import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/index.ts';
import { CREDENTIALS_CHANNEL, jsonb, type Db, type Notifier, type Tx } from '../db/index.ts';
import { parseTokenClaims } from './auth-json.ts';
import { requestTokenRefresh } from './oauth-refresh.ts';
import { readSecrets, storeSecret } from './secrets.ts';

export { CREDENTIALS_CHANNEL };

export type AccessCredentials = { accessToken: string; expiresAt: number | null; epoch: number };

export type RefreshResult =
  | { status: 'refreshed'; credentials: AccessCredentials }
  | { status: 'reauth_required'; code: string }
  | { status: 'failed'; code: string }
  | { status: 'noop'; code: string };

export type CredentialDeps = {
  db: Db;
  keyring: Keyring;
  notifier: Notifier;
  dispatcher: Dispatcher;
  issuer: string;
  log: Logger;
  now?: () => number;
  /** How long before expiry a token is refreshed ahead of use. */
  refreshSkewMs?: number;
};

const REFRESH_TIMEOUT_MS = 30_000;
// A `refreshing` claim older than this is considered abandoned by a dead process.
const STALE_CLAIM_MS = REFRESH_TIMEOUT_MS + 20_000;
const WAIT_POLL_MS = 100;

export class RefreshInProgressError extends Error {}

/**
 * Decrypted access tokens cached per account, and single-flight refresh. ChatGPT rotates refresh
 * tokens: two refreshes with one token break the account. So within a process concurrent callers
 * share one promise, and across processes a `refreshing` claim on the identity row makes the
 * others wait for the winner's result instead of calling the provider.
 */
export class CredentialStore {
  #deps: CredentialDeps;
  #now: () => number;
  #cache = new Map<string, AccessCredentials>();
  #refreshing = new Map<string, Promise<RefreshResult>>();

  constructor(deps: CredentialDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async listen(): Promise<void> {
    await this.#deps.notifier.subscribe(CREDENTIALS_CHANNEL, (payload) => {
      // `<identity>` drops the cached token; `<identity>@<epoch>` (a refresh) only an older one, so
      // the refreshing process keeps the token it just cached when its own notification comes back.
      const [identityId, epoch] = payload.split('@') as [string, string | undefined];
      const cached = this.#cache.get(identityId);
      if (cached && epoch !== undefined && cached.epoch >= Number(epoch)) return;
      this.#cache.delete(identityId);
    });
  }

  invalidate(identityId: string): void {
    this.#cache.delete(identityId);
  }

  /** Whether this process holds the account's decrypted token in memory (diagnostics and tests). */
  isCached(identityId: string): boolean {
    return this.#cache.has(identityId);
  }

  /** A usable access token, refreshed first when it expires within the skew. */
  async accessTokenFor(identityId: string): Promise<AccessCredentials> {
    let current = this.#cache.get(identityId) ?? (await this.#load(identityId));
    const skew = this.#deps.refreshSkewMs ?? 60_000;
    if (current.expiresAt !== null && current.expiresAt - this.#now() <= skew) {
      const result = await this.refresh(identityId, { trigger: 'expiring', expectedEpoch: current.epoch });
      if (result.status === 'refreshed') current = result.credentials;
      else if (result.status === 'noop') current = await this.#load(identityId);
      // On failure the old token is still tried: the upstream decides, and a 401 is handled there.
    }
    return current;
  }

  async #load(identityId: string): Promise<AccessCredentials> {
    const [secrets, identity] = await Promise.all([
      readSecrets(this.#deps.db, this.#deps.keyring, identityId, ['access_token']),
      this.#deps.db.selectFrom('upstream_identities').select(['access_token_expires_at', 'credential_epoch']).where('id', '=', identityId).executeTakeFirst(),
    ]);
    if (!secrets.access_token || !identity) throw new Error(`account ${identityId} has no active access token`);
    const credentials = { accessToken: secrets.access_token, expiresAt: identity.access_token_expires_at?.getTime() ?? null, epoch: identity.credential_epoch };
    this.#cache.set(identityId, credentials);
    return credentials;
  }

  /** Refreshes once per account at a time; concurrent callers (any process) share the outcome. */
  refresh(identityId: string, options: { trigger: string; expectedEpoch?: number }): Promise<RefreshResult> {
    const pending = this.#refreshing.get(identityId);
    if (pending) return pending;
    const run = this.#refreshAcrossProcesses(identityId, options).finally(() => this.#refreshing.delete(identityId));
    this.#refreshing.set(identityId, run);
    return run;
  }

  async #refreshAcrossProcesses(identityId: string, options: { trigger: string; expectedEpoch?: number }): Promise<RefreshResult> {
    const deadline = this.#now() + STALE_CLAIM_MS + 5_000;
    for (;;) {
      const claim = await this.#claim(identityId, options);
      if (claim.kind === 'claimed') return this.#performRefresh(identityId, claim.attemptId, claim.refreshToken, claim.epoch);
      if (claim.kind === 'done') return claim.result;
      // Another process holds the claim: wait for its result rather than spend the same token.
      if (this.#now() > deadline) return { status: 'failed', code: 'refresh_in_progress' };
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      const row = await this.#deps.db.selectFrom('upstream_identities').select(['status', 'credential_epoch']).where('id', '=', identityId).executeTakeFirst();
      if (!row) return { status: 'noop', code: 'account_missing' };
      if (row.status !== 'refreshing') {
        this.#cache.delete(identityId);
        if (row.status === 'reauth_required') return { status: 'reauth_required', code: 'reauth_required' };
        if (row.status === 'active' && row.credential_epoch !== options.expectedEpoch) return { status: 'refreshed', credentials: await this.#load(identityId) };
        if (row.status === 'refresh_failed') return { status: 'failed', code: 'refresh_failed' };
        options = { ...options, expectedEpoch: row.credential_epoch };
      }
    }
  }

  async #claim(
    identityId: string,
    options: { trigger: string; expectedEpoch?: number },
  ): Promise<{ kind: 'claimed'; attemptId: string; refreshToken: string; epoch: number } | { kind: 'wait' } | { kind: 'done'; result: RefreshResult }> {
    const { db, keyring } = this.#deps;
    return db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('upstream_identities').select(['status', 'credential_epoch', 'metadata', 'updated_at']).where('id', '=', identityId).forUpdate().executeTakeFirst();
      if (!row || row.status === 'paused' || row.status === 'deleted' || row.status === 'disabled') return { kind: 'done', result: { status: 'noop', code: 'not_refreshable' } };
      if (row.status === 'reauth_required') return { kind: 'done', result: { status: 'reauth_required', code: 'reauth_required' } };
      if (row.status === 'refreshing') {
        const startedAt = Date.parse(String((row.metadata.token_refresh as Record<string, unknown> | undefined)?.started_at ?? '')) || row.updated_at.getTime();
        if (this.#now() - startedAt < STALE_CLAIM_MS) return { kind: 'wait' };
      }
      // Someone already refreshed since the caller read its token: use theirs.
      if (options.expectedEpoch !== undefined && row.credential_epoch !== options.expectedEpoch && row.status === 'active') {
        return { kind: 'done', result: { status: 'noop', code: 'epoch_changed' } };
      }
      const secrets = await readSecrets(tx, keyring, identityId, ['refresh_token']);
      if (!secrets.refresh_token) {
        await markReauthRequired(tx, identityId, 'missing_refresh_token', row.metadata);
        return { kind: 'done', result: { status: 'reauth_required', code: 'missing_refresh_token' } };
      }
      const attemptId = randomUUID();
      const previous = (row.metadata.token_refresh as Record<string, unknown> | undefined) ?? {};
      await tx
        .updateTable('upstream_identities')
        .set({
          status: 'refreshing',
          updated_at: new Date(),
          metadata: jsonb({
            ...row.metadata,
            token_refresh: { attempt_id: attemptId, generation: Number(previous.generation ?? 0) + 1, started_at: new Date(this.#now()).toISOString(), trigger_kind: options.trigger, receive_timeout_ms: REFRESH_TIMEOUT_MS, stale_after_ms: STALE_CLAIM_MS },
          }),
        })
        .where('id', '=', identityId)
        .execute();
      return { kind: 'claimed', attemptId, refreshToken: secrets.refresh_token, epoch: row.credential_epoch };
    });
  }

  async #performRefresh(identityId: string, attemptId: string, refreshToken: string, epoch: number): Promise<RefreshResult> {
    const { db, keyring, log } = this.#deps;
    const outcome = await requestTokenRefresh({ issuer: this.#deps.issuer, refreshToken, dispatcher: this.#deps.dispatcher, timeoutMs: REFRESH_TIMEOUT_MS });
    const result = await db.transaction().execute(async (tx): Promise<RefreshResult> => {
      const row = await tx.selectFrom('upstream_identities').select(['status', 'metadata']).where('id', '=', identityId).forUpdate().executeTakeFirst();
      const current = (row?.metadata.token_refresh as Record<string, unknown> | undefined) ?? {};
      // The claim was taken over (we were presumed dead): our result must not overwrite theirs.
      if (!row || current.attempt_id !== attemptId) return { status: 'noop', code: 'claim_lost' };
      const finished = { ...current, finished_at: new Date(this.#now()).toISOString() };
      if (outcome.kind === 'refreshed') {
        const expiresAt = parseTokenClaims(outcome.accessToken).expiresAt ?? (outcome.expiresIn ? new Date(this.#now() + outcome.expiresIn * 1000) : null);
        await storeSecret(tx, keyring, identityId, 'access_token', outcome.accessToken);
        if (outcome.refreshToken) await storeSecret(tx, keyring, identityId, 'refresh_token', outcome.refreshToken);
        if (outcome.idToken) await storeSecret(tx, keyring, identityId, 'id_token', outcome.idToken);
        const now = new Date(this.#now());
        await tx
          .updateTable('upstream_identities')
          .set({
            status: 'active',
            access_token_expires_at: expiresAt,
            credential_epoch: epoch + 1,
            last_successful_refresh_at: now,
            auth_fresh_at: now,
            updated_at: now,
            metadata: jsonb({ ...row.metadata, token_refresh: { ...finished, status: 'succeeded', rotated_refresh_token: Boolean(outcome.refreshToken) } }),
          })
          .where('id', '=', identityId)
          .execute();
        return { status: 'refreshed', credentials: { accessToken: outcome.accessToken, expiresAt: expiresAt?.getTime() ?? null, epoch: epoch + 1 } };
      }
      if (outcome.kind === 'reauth_required') {
        await markReauthRequired(tx, identityId, outcome.code, { ...row.metadata, token_refresh: { ...finished, status: 'reauth_required', reason: { code: outcome.code } } });
        return { status: 'reauth_required', code: outcome.code };
      }
      await tx
        .updateTable('upstream_identities')
        .set({ status: 'refresh_failed', updated_at: new Date(), metadata: jsonb({ ...row.metadata, token_refresh: { ...finished, status: 'failed', reason: { code: outcome.code } } }) })
        .where('id', '=', identityId)
        .execute();
      return { status: 'failed', code: outcome.code };
    });
    log.info({ account: identityId, outcome: result.status, code: 'code' in result ? result.code : undefined }, 'upstream token refresh finished');
    if (result.status === 'refreshed') this.#cache.set(identityId, result.credentials);
    else this.#cache.delete(identityId);
    // On the request path: this process's cache is already set above, so no waiting for the echo.
    const payload = result.status === 'refreshed' ? `${identityId}@${result.credentials.epoch}` : identityId;
    await this.#deps.notifier.publish(CREDENTIALS_CHANNEL, payload, { awaitLocal: false }).catch(() => {});
    return result;
  }
}

/** `invalid_grant` and friends: out of rotation until an operator signs the account in again. */
async function markReauthRequired(tx: Tx, identityId: string, code: string, metadata: Record<string, unknown>): Promise<void> {
  const now = new Date();
  await tx
    .updateTable('upstream_identities')
    .set({ status: 'reauth_required', disabled_at: now, updated_at: now, metadata: jsonb({ ...metadata, last_lifecycle_transition: { event: 'reauth_required', at: now.toISOString(), reason: code } }) })
    .where('id', '=', identityId)
    .execute();
  await tx
    .updateTable('pool_upstream_assignments')
    .set({ status: 'reauth_required', health_status: 'disabled', eligibility_status: 'ineligible', updated_at: now })
    .where('upstream_identity_id', '=', identityId)
    .where('status', 'not in', ['deleted', 'disabled'])
    .execute();
}
