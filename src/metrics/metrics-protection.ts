import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { authorize, type Scope } from '../operators/scope.ts';
import { generateMetricsToken, readMetricsBearer, setMetricsBearer } from './metrics-bearer.ts';

/**
 * How /metrics is protected, as the owner sees it (control-plane spec §8.4): never the token or its
 * digest. The env token's fingerprint is not shown either: an operator-chosen env token has no
 * minimum length, and a hash prefix of a short one would help guess it.
 */
export type MetricsProtection = { mode: 'open' } | { mode: 'bearer_env' } | { mode: 'bearer_stored'; fingerprint: string; set_at?: string };

/** `envToken` is this process's `CODEX_POOLER_METRICS_TOKEN`, which wins over the stored bearer. */
export type MetricsProtectionDeps = { db: Db; keyring: Keyring; envToken: string | null };

/** The stored-token change an owner asks for: a generated token, one they bring, or none (open). */
export type MetricsTokenRequest = { generate: true } | { token: string } | { clear: true };

/** Owner only, like every instance setting. */
export async function readMetricsProtection(deps: MetricsProtectionDeps, scope: Scope): Promise<MetricsProtection> {
  authorize(scope, 'instance_settings.manage');
  if (deps.envToken) return { mode: 'bearer_env' };
  const record = await readMetricsBearer(deps.db);
  if (!record) return { mode: 'open' };
  return { mode: 'bearer_stored', fingerprint: record.bearer_fingerprint, ...(record.bearer_set_at ? { set_at: record.bearer_set_at } : {}) };
}

/**
 * Sets, generates or clears the stored bearer (audited by `setMetricsBearer`, without the token).
 * Refused while the env token is set: it wins, so a stored change would silently do nothing here.
 * Answers the generated token once; a token the owner brought is never echoed.
 */
export async function changeMetricsToken(
  deps: MetricsProtectionDeps,
  scope: Scope,
  request: MetricsTokenRequest,
): Promise<{ protection: MetricsProtection; generatedToken: string | null }> {
  authorize(scope, 'instance_settings.manage');
  if (deps.envToken) {
    throw new PoolerError('metrics_token_from_env', 'CODEX_POOLER_METRICS_TOKEN is set on this instance and wins over a stored token; change or unset it in the environment instead', { param: 'token' });
  }
  const generatedToken = 'generate' in request ? generateMetricsToken() : null;
  const token = 'token' in request ? request.token : generatedToken;
  await setMetricsBearer(deps, scope, token);
  return { protection: await readMetricsProtection(deps, scope), generatedToken };
}
