// The ChatGPT OAuth protocol as the Codex CLI speaks it (control-plane spec §5.3), as pure
// functions: authorize URL, callback URL checks, device-code and token answers, and the relink
// proof. No I/O and no clock: callers pass `now` and the stored facts.

import { createHash, randomBytes } from 'node:crypto';
import { credentialsFromProfile, parseTokenClaims, readIdTokenProfile } from './auth-json.ts';
import type { LinkCredentials } from './linking.ts';
import { CODEX_OAUTH_CLIENT_ID } from './oauth-refresh.ts';
import { CODEX_ORIGINATOR } from './upstream-http.ts';

export { CODEX_OAUTH_CLIENT_ID };
export const OAUTH_SCOPE = 'openid profile email offline_access api.connectors.read api.connectors.invoke';
export const BROWSER_REDIRECT_URI = 'http://localhost:1455/auth/callback';
export const FLOW_TTL_MS = 600_000;
export const DEFAULT_DEVICE_INTERVAL_S = 5;
const SLOW_DOWN_STEP_S = 5;

export const deviceRedirectUri = (issuer: string) => `${issuer}/deviceauth/callback`;
export const deviceVerificationUrl = (issuer: string) => `${issuer}/codex/device`;

/** The failure codes of a sign-in; each is a PoolerError code of the same name. */
export type OAuthFailureCode =
  | 'invalid_callback_url'
  | 'invalid_callback_origin'
  | 'missing_state'
  | 'duplicate_callback_param'
  | 'missing_callback_result'
  | 'provider_denied'
  | 'invalid_state'
  | 'expired_flow'
  | 'identity_mismatch'
  | 'identity_conflict'
  | 'token_exchange_failed'
  | 'codex_account_identity_missing';

export type OAuthFailure = { ok: false; code: OAuthFailureCode; message: string };
const fail = (code: OAuthFailureCode, message: string): OAuthFailure => ({ ok: false, code, message });

// ---- PKCE and the authorize URL ----------------------------------------------------------------

export type Pkce = { verifier: string; challenge: string };

export const pkceChallenge = (verifier: string): string => createHash('sha256').update(verifier, 'ascii').digest('base64url');

/** Verifier = base64url(64 random bytes); S256 challenge. */
export function newPkce(): Pkce {
  const verifier = randomBytes(64).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier) };
}

export function buildAuthorizeUrl(options: { issuer: string; state: string; codeChallenge: string }): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: CODEX_OAUTH_CLIENT_ID,
    redirect_uri: BROWSER_REDIRECT_URI,
    scope: OAUTH_SCOPE,
    code_challenge: options.codeChallenge,
    code_challenge_method: 'S256',
    state: options.state,
    id_token_add_organizations: 'true',
    codex_cli_simplified_flow: 'true',
    originator: CODEX_ORIGINATOR,
  });
  return `${options.issuer}/oauth/authorize?${params.toString()}`;
}

// ---- the pasted callback URL -------------------------------------------------------------------

export type CallbackResult = { ok: true; state: string; outcome: { kind: 'code'; code: string } | { kind: 'error'; error: string } };

/**
 * Checks the localhost address the browser ended on. The state is returned for the caller to
 * compare with the stored hash; a provider `error` is returned too (it is only reported once the
 * state proved the callback belongs to this flow).
 */
export function parseCallbackUrl(text: string): CallbackResult | OAuthFailure {
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return fail('invalid_callback_url', 'the callback is not a URL; paste the whole address from the browser');
  }
  if (url.username || url.password || trimmed.includes('#')) return fail('invalid_callback_url', 'the callback address must not carry user info or a fragment');
  if (url.protocol !== 'http:' || (url.hostname !== 'localhost' && url.hostname !== '127.0.0.1') || url.port !== '1455' || url.pathname !== '/auth/callback') {
    return fail('invalid_callback_origin', `the callback address must be ${BROWSER_REDIRECT_URI}?…`);
  }
  for (const name of ['state', 'code', 'error']) {
    if (url.searchParams.getAll(name).length > 1) return fail('duplicate_callback_param', `the callback address has more than one ${name} parameter`);
  }
  const state = url.searchParams.get('state')?.trim();
  if (!state) return fail('missing_state', 'the callback address has no state parameter');
  const code = url.searchParams.get('code')?.trim() || null;
  const error = url.searchParams.get('error')?.trim() || null;
  if ((code === null) === (error === null)) return fail('missing_callback_result', 'the callback address must carry exactly one of code or error');
  return { ok: true, state, outcome: code !== null ? { kind: 'code', code } : { kind: 'error', error: error! } };
}

// ---- device code -------------------------------------------------------------------------------

export type DeviceCode = { deviceAuthId: string; userCode: string; intervalSeconds: number; expiresAt: Date; verificationUrl: string };

const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `interval` arrives as a string ("5") from ChatGPT, a number from others; anything else = default. */
function intervalOf(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  return Number.isInteger(n) && n > 0 && n <= 60 ? n : DEFAULT_DEVICE_INTERVAL_S;
}

/** The answer of `POST {issuer}/api/accounts/deviceauth/usercode`. */
export function interpretUserCodeResponse(status: number, body: unknown, issuer: string, now: Date): { ok: true; value: DeviceCode } | OAuthFailure {
  if (status < 200 || status >= 300 || !isObject(body)) return fail('token_exchange_failed', `ChatGPT refused to start a device code (HTTP ${status})`);
  const deviceAuthId = text(body.device_auth_id);
  const userCode = text(body.user_code) ?? text(body.usercode);
  if (!deviceAuthId || !userCode) return fail('token_exchange_failed', 'ChatGPT answered the device code request without a code');
  const expiresAtMs = typeof body.expires_at === 'string' ? Date.parse(body.expires_at) : typeof body.expires_at === 'number' ? body.expires_at * 1000 : Number.NaN;
  const expiresAt = Number.isFinite(expiresAtMs) && expiresAtMs > now.getTime() ? new Date(Math.min(expiresAtMs, now.getTime() + 3_600_000)) : new Date(now.getTime() + FLOW_TTL_MS);
  return { ok: true, value: { deviceAuthId, userCode, intervalSeconds: intervalOf(body.interval), expiresAt, verificationUrl: deviceVerificationUrl(issuer) } };
}

export type DevicePoll =
  | { kind: 'pending' }
  | { kind: 'slow_down' }
  | { kind: 'expired' }
  | { kind: 'denied' }
  | { kind: 'approved'; authorizationCode: string; codeVerifier: string }
  | { kind: 'failed'; message: string };

function errorCodeOf(body: unknown): string | null {
  if (!isObject(body)) return null;
  if (typeof body.error === 'string') return body.error;
  if (isObject(body.error) && typeof body.error.code === 'string') return body.error.code;
  return null;
}

/** The answer of `POST {issuer}/api/accounts/deviceauth/token` (spec §5.3 poll rules). */
export function interpretDevicePoll(status: number, body: unknown): DevicePoll {
  const code = errorCodeOf(body);
  if (status >= 200 && status < 300) {
    const authorizationCode = isObject(body) ? text(body.authorization_code) : null;
    const codeVerifier = isObject(body) ? text(body.code_verifier) : null;
    if (authorizationCode && codeVerifier) return { kind: 'approved', authorizationCode, codeVerifier };
    if (code === null) return { kind: 'failed', message: 'ChatGPT approved the device code without an authorization code' };
  }
  if (code === 'authorization_pending') return { kind: 'pending' };
  if (code === 'slow_down') return { kind: 'slow_down' };
  if (code === 'expired_token') return { kind: 'expired' };
  if (code === 'access_denied') return { kind: 'denied' };
  if (status === 403 || status === 404) return { kind: 'pending' };
  return { kind: 'failed', message: `ChatGPT answered the device code poll with HTTP ${status}${code ? ` (${code})` : ''}` };
}

export const slowedInterval = (seconds: number): number => seconds + SLOW_DOWN_STEP_S;

// ---- token exchange ----------------------------------------------------------------------------

export type ExchangedTokens = { accessToken: string; idToken: string; refreshToken: string | null };

/** The answer of the `authorization_code` grant: access and id tokens are required. */
export function interpretTokenExchange(status: number, body: unknown): { ok: true; value: ExchangedTokens } | OAuthFailure {
  if (status < 200 || status >= 300 || !isObject(body)) {
    const code = errorCodeOf(body);
    return fail('token_exchange_failed', `ChatGPT refused the sign-in code (HTTP ${status}${code ? `, ${code}` : ''})`);
  }
  const accessToken = text(body.access_token);
  const idToken = text(body.id_token);
  if (!accessToken || !idToken) return fail('token_exchange_failed', 'ChatGPT answered without an access token and id token');
  return { ok: true, value: { accessToken, idToken, refreshToken: text(body.refresh_token) } };
}

/** Credentials to link from exchanged tokens (claims decoded, not verified, as for auth.json). */
export function credentialsFromTokens(tokens: ExchangedTokens, now: Date): { ok: true; value: LinkCredentials } | OAuthFailure {
  const profile = readIdTokenProfile(tokens.idToken);
  const access = parseTokenClaims(tokens.accessToken);
  const chatgptAccountId = profile.chatgptAccountId ?? access.chatgptAccountId;
  if (!chatgptAccountId) return fail('codex_account_identity_missing', 'the tokens ChatGPT issued carry no ChatGPT account id');
  const expiresAt = access.expiresAt ?? new Date(now.getTime() + 3_600_000);
  if (expiresAt.getTime() <= now.getTime()) return fail('token_exchange_failed', 'ChatGPT issued an access token that is already expired');
  return {
    ok: true,
    value: credentialsFromProfile(profile, {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      chatgptAccountId,
      accessTokenExpiresAt: expiresAt,
      residency: access.residency,
    }),
  };
}

// ---- relink proof ------------------------------------------------------------------------------

export type IdentityFacts = {
  chatgptAccountId: string | null;
  chatgptUserId: string | null;
  email: string | null;
  workspaceId: string | null;
  planFamily: string | null;
  seatType: string | null;
};

const differ = (a: string | null, b: string | null) => a !== null && b !== null && a.toLowerCase() !== b.toLowerCase();

/**
 * Re-authentication must sign in the same account (spec §5.3): account ids equal (a stored id the
 * sign-in lacks is a mismatch), without a stored id the emails must not differ, subjects equal,
 * workspaces equal unless the sign-in lacks one while everything else matches. A legacy target
 * (no workspace, no subject) that has a concrete-workspace sibling is ambiguous.
 */
export function relinkProof(stored: IdentityFacts, incoming: IdentityFacts, options: { hasConcreteSibling: boolean }): { ok: true } | OAuthFailure {
  const mismatch = (why: string) => fail('identity_mismatch', `the ChatGPT account signed in is not the account being re-authenticated (${why})`);
  if (stored.chatgptAccountId !== null && stored.chatgptAccountId !== incoming.chatgptAccountId) return mismatch('different account');
  if (stored.chatgptAccountId === null && differ(stored.email, incoming.email)) return mismatch('different email');
  if (stored.chatgptUserId !== null && stored.chatgptUserId !== incoming.chatgptUserId) return mismatch('different user');
  if (stored.workspaceId !== null && stored.workspaceId !== incoming.workspaceId) {
    const sameOtherwise = incoming.workspaceId === null && !differ(stored.email, incoming.email) && incoming.planFamily === stored.planFamily && incoming.seatType === stored.seatType;
    if (!sameOtherwise) return mismatch('different workspace');
  }
  if (stored.workspaceId === null && stored.chatgptUserId === null && options.hasConcreteSibling) {
    return fail('identity_conflict', 'this account has a sibling in a concrete workspace; re-authenticate that one');
  }
  return { ok: true };
}
