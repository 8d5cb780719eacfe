/**
 * Fake ChatGPT / Codex OAuth tokens for tests.
 *
 * Tokens are real JWTs (HS256 with a fixed test secret) so that code decoding
 * payloads without verifying signatures sees exactly the claim layout issued
 * by auth.openai.com. All builders are async because jose's SignJWT is async.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

export const FAKE_JWT_SECRET = new TextEncoder().encode('codex-pooler-fake-upstream-secret-0123456789');
export const FAKE_ISSUER = 'https://auth.openai.com';
export const CODEX_CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';
export const AUTH_CLAIM = 'https://api.openai.com/auth';
export const PROFILE_CLAIM = 'https://api.openai.com/profile';

export interface TokenIdentity {
  accountId: string;
  email: string;
  /** default "plus" */
  planType?: string;
  /** default `user-<accountId>` */
  userId?: string;
  /** emitted as `chatgpt_compute_residency` in the access token auth claim */
  computeResidency?: string;
  /** extra keys merged into the `https://api.openai.com/auth` claim of both JWTs */
  extraAuthClaims?: Record<string, unknown>;
}

export interface MakeAuthJsonOptions extends TokenIdentity {
  /** access token lifetime from now (negative = already expired); default 3600 */
  accessExpiresInSec?: number;
  /** explicit refresh token; default a random `rt_…` */
  refreshToken?: string;
}

export interface CodexAuthJson {
  auth_mode: 'chatgpt';
  OPENAI_API_KEY: null;
  tokens: { id_token: string; access_token: string; refresh_token: string; account_id: string };
  last_refresh: string;
}

export interface FakeTokenSet {
  authJson: CodexAuthJson;
  accessToken: string;
  refreshToken: string;
  idToken: string;
  /** unix seconds of the access token `exp` */
  accessExpiresAt: number;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

function userIdOf(identity: TokenIdentity): string {
  return identity.userId ?? `user-${identity.accountId}`;
}

function authClaims(identity: TokenIdentity): Record<string, unknown> {
  return {
    chatgpt_account_id: identity.accountId,
    chatgpt_plan_type: identity.planType ?? 'plus',
    chatgpt_user_id: userIdOf(identity),
    user_id: userIdOf(identity),
    ...identity.extraAuthClaims,
  };
}

async function sign(claims: Record<string, unknown>, iat: number, exp: number, audience: string | string[]): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(FAKE_ISSUER)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(FAKE_JWT_SECRET);
}

/** Opaque refresh token, shaped like the real `rt_…` tokens. */
export function makeRefreshToken(): string {
  return `rt_${randomBytes(24).toString('base64url')}`;
}

/** Access token JWT for a full identity. */
export async function makeAccessTokenFor(identity: TokenIdentity, expiresInSec = 3600): Promise<string> {
  const iat = nowSec();
  const auth = authClaims(identity);
  if (identity.computeResidency !== undefined) auth.chatgpt_compute_residency = identity.computeResidency;
  return sign(
    {
      sub: userIdOf(identity),
      client_id: CODEX_CLIENT_ID,
      scp: ['openid', 'profile', 'email', 'offline_access'],
      [AUTH_CLAIM]: auth,
      [PROFILE_CLAIM]: { email: identity.email, email_verified: true },
    },
    iat,
    iat + expiresInSec,
    ['https://api.openai.com/v1'],
  );
}

/** Convenience: access token JWT for an account id only (email derived). */
export async function makeAccessToken(accountId: string, expiresInSec = 3600): Promise<string> {
  return makeAccessTokenFor({ accountId, email: `${accountId}@example.test` }, expiresInSec);
}

/** id_token JWT (claims: email, auth claim with account/plan/user ids, exp, iat). */
export async function makeIdToken(identity: TokenIdentity, expiresInSec = 3600): Promise<string> {
  const iat = nowSec();
  return sign(
    {
      sub: userIdOf(identity),
      email: identity.email,
      email_verified: true,
      [AUTH_CLAIM]: authClaims(identity),
    },
    iat,
    iat + expiresInSec,
    CODEX_CLIENT_ID,
  );
}

/** Mint a full token set and a Codex-shaped `auth.json` document. */
export async function makeAuthJson(opts: MakeAuthJsonOptions): Promise<FakeTokenSet> {
  const expiresIn = opts.accessExpiresInSec ?? 3600;
  const accessToken = await makeAccessTokenFor(opts, expiresIn);
  const idToken = await makeIdToken(opts);
  const refreshToken = opts.refreshToken ?? makeRefreshToken();
  const authJson: CodexAuthJson = {
    auth_mode: 'chatgpt',
    OPENAI_API_KEY: null,
    tokens: { id_token: idToken, access_token: accessToken, refresh_token: refreshToken, account_id: opts.accountId },
    last_refresh: new Date().toISOString(),
  };
  return { authJson, accessToken, refreshToken, idToken, accessExpiresAt: nowSec() + expiresIn };
}

/** Decode a JWT payload without verifying (test helper). */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}
