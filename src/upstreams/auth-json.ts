// Parses a Codex CLI `auth.json` into credentials we can store (spec control-plane §5.2).
// Pure: no I/O, no clock. JWT payloads are decoded but NOT verified; the upstream verifies
// tokens on use, we only need their claims for identity and expiry bookkeeping.
// Error messages name the offending field in the user's words and never echo token values.

import { decodeJwt } from 'jose';
import type { JWTPayload } from 'jose';

export const AUTH_JSON_MAX_BYTES = 64_000;
export const AUTH_CLAIM = 'https://api.openai.com/auth';
export const PROFILE_CLAIM = 'https://api.openai.com/profile';
export const DEFAULT_ACCOUNT_LABEL = 'Codex account';

export type AuthJsonErrorCode =
  | 'invalid_auth_json'
  | 'unsupported_auth_json'
  | 'missing_tokens'
  | 'missing_token'
  | 'invalid_token'
  | 'expired_token'
  | 'missing_account_identifier'
  | 'missing_refresh_token';

export type ImportedCredentials = {
  accessToken: string;
  refreshToken: string;
  idToken: string;
  chatgptAccountId: string;
  chatgptUserId: string | null;
  /** lowercased */
  email: string | null;
  planType: string | null;
  /** lowercased plan label, non-alphanumeric runs → `-` */
  planFamily: string | null;
  workspaceId: string | null;
  workspaceLabel: string | null;
  seatType: string | null;
  accessTokenExpiresAt: Date;
  residency: string | null;
  /** email, else "Codex account" */
  accountLabel: string;
};

export type AuthJsonError = { ok: false; code: AuthJsonErrorCode; field: string | null; message: string };
export type AuthJsonResult = { ok: true; value: ImportedCredentials } | AuthJsonError;

export type TokenClaims = {
  expiresAt: Date | null;
  chatgptAccountId: string | null;
  residency: string | null;
};

export type IdTokenProfile = {
  email: string | null;
  planType: string | null;
  planFamily: string | null;
  chatgptAccountId: string | null;
  chatgptUserId: string | null;
  workspaceId: string | null;
  workspaceLabel: string | null;
  seatType: string | null;
};

type JsonObject = Record<string, unknown>;

const WORKSPACE_ID_KEYS = ['workspace_id', 'chatgpt_workspace_id', 'organization_id', 'org_id', 'tenant_id'];
const WORKSPACE_LABEL_KEYS = ['workspace_label', 'workspace_name', 'organization_name', 'org_name', 'tenant_name'];
const SEAT_TYPE_KEYS = ['seat_type', 'chatgpt_seat_type', 'entitlement_type'];
const CHATGPT_AUTH_MODES = new Set(['chatgpt', 'chat_gpt']);
// Short identifier-like auth modes are safe to quote back; anything else might be pasted secret material.
const QUOTABLE_MODE = /^[A-Za-z0-9_-]{1,32}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const LOGIN_HINT = 'run codex login with ChatGPT';

function fail(code: AuthJsonErrorCode, field: string | null, message: string): AuthJsonError {
  return { ok: false, code, field, message };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Trimmed non-blank string, else null. */
function nonBlank(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function firstText(sources: Array<JsonObject | null>, keys: readonly string[]): string | null {
  for (const source of sources) {
    if (source === null) continue;
    for (const key of keys) {
      const found = nonBlank(source[key]);
      if (found !== null) return found;
    }
  }
  return null;
}

function decodeOrNull(token: string): JWTPayload | null {
  try {
    return decodeJwt(token);
  } catch {
    return null;
  }
}

function authObject(claims: JWTPayload): JsonObject | null {
  const auth = claims[AUTH_CLAIM];
  return isObject(auth) ? auth : null;
}

function expiryOf(claims: JWTPayload): Date | null {
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return null;
  const date = new Date(exp * 1000);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function planFamilyOf(planType: string | null): string | null {
  if (planType === null) return null;
  const family = planType
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return family === '' ? null : family;
}

/** `chatgpt_compute_residency`; "no_constraint" means no residency pin, so it maps to null. */
function residencyOf(claims: JWTPayload): string | null {
  const raw = nonBlank(authObject(claims)?.chatgpt_compute_residency) ?? nonBlank(claims.chatgpt_compute_residency);
  if (raw === null || !PRINTABLE_ASCII.test(raw) || raw.toLowerCase() === 'no_constraint') return null;
  return raw;
}

function profileFromClaims(claims: JWTPayload): IdTokenProfile {
  const auth = authObject(claims);
  const profile = isObject(claims[PROFILE_CLAIM]) ? (claims[PROFILE_CLAIM] as JsonObject) : null;
  const email = nonBlank(claims.email) ?? nonBlank(profile?.email);
  const planType = nonBlank(auth?.chatgpt_plan_type);
  const sources = [auth, claims as JsonObject];
  return {
    email: email === null ? null : email.toLowerCase(),
    planType,
    planFamily: planFamilyOf(planType),
    chatgptAccountId: nonBlank(auth?.chatgpt_account_id),
    chatgptUserId: nonBlank(auth?.chatgpt_user_id),
    workspaceId: firstText(sources, WORKSPACE_ID_KEYS),
    workspaceLabel: firstText(sources, WORKSPACE_LABEL_KEYS),
    seatType: firstText(sources, SEAT_TYPE_KEYS),
  };
}

/** Access-token claims we track after every refresh. Undecodable tokens yield all-null claims. */
export function parseTokenClaims(accessToken: string): TokenClaims {
  const claims = decodeOrNull(accessToken);
  if (claims === null) return { expiresAt: null, chatgptAccountId: null, residency: null };
  return {
    expiresAt: expiryOf(claims),
    chatgptAccountId: nonBlank(authObject(claims)?.chatgpt_account_id),
    residency: residencyOf(claims),
  };
}

/** What a sign-in or an auth.json settles itself; the rest of the credentials come from the id token's profile. */
export type TokenFacts<R extends string | null> = Pick<ImportedCredentials, 'accessToken' | 'idToken' | 'chatgptAccountId' | 'accessTokenExpiresAt' | 'residency'> & { refreshToken: R };

/** The credentials to link, one mapping for auth.json imports and OAuth sign-ins (the label is the email, else the default). */
export function credentialsFromProfile<R extends string | null>(profile: IdTokenProfile, tokens: TokenFacts<R>): Omit<ImportedCredentials, 'refreshToken'> & { refreshToken: R } {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    idToken: tokens.idToken,
    chatgptAccountId: tokens.chatgptAccountId,
    chatgptUserId: profile.chatgptUserId,
    email: profile.email,
    planType: profile.planType,
    planFamily: profile.planFamily,
    workspaceId: profile.workspaceId,
    workspaceLabel: profile.workspaceLabel,
    seatType: profile.seatType,
    accessTokenExpiresAt: tokens.accessTokenExpiresAt,
    residency: tokens.residency,
    accountLabel: profile.email ?? DEFAULT_ACCOUNT_LABEL,
  };
}

/** Identity profile carried by an id_token. Undecodable tokens yield an all-null profile. */
export function readIdTokenProfile(idToken: string): IdTokenProfile {
  const claims = decodeOrNull(idToken);
  if (claims === null) return profileFromClaims({});
  return profileFromClaims(claims);
}

/**
 * Mode checks: only the FIRST applicable check runs (spec §5.2), e.g. a blank
 * `personalAccessToken` settles the mode and `auth_mode` is then not inspected.
 */
function checkMode(doc: JsonObject): AuthJsonError | null {
  const apiKey = doc.OPENAI_API_KEY;
  if (apiKey !== undefined && apiKey !== null && apiKey !== '') {
    return fail(
      'unsupported_auth_json',
      'OPENAI_API_KEY',
      `OPENAI_API_KEY is set: API-key auth.json files are not supported; ${LOGIN_HINT}`,
    );
  }
  for (const key of ['personalAccessToken', 'personal_access_token']) {
    const pat = doc[key];
    if (typeof pat !== 'string') continue;
    if (pat.trim() === '') return null;
    return fail(
      'unsupported_auth_json',
      key,
      `${key} is set: personal-access-token auth.json files are not supported; ${LOGIN_HINT}`,
    );
  }
  const mode = doc.auth_mode;
  if (typeof mode === 'string') {
    if (CHATGPT_AUTH_MODES.has(mode.toLowerCase())) return null;
    const quoted = QUOTABLE_MODE.test(mode) ? ` "${mode}"` : '';
    return fail('unsupported_auth_json', 'auth_mode', `auth_mode${quoted} is not supported; ${LOGIN_HINT}`);
  }
  const tokens = doc.tokens;
  const access = isObject(tokens) ? tokens.access_token : undefined;
  if (typeof access === 'string' && access.startsWith('at-')) {
    return fail(
      'unsupported_auth_json',
      'tokens.access_token',
      `tokens.access_token is a personal access token: only ChatGPT login auth.json files are supported; ${LOGIN_HINT}`,
    );
  }
  return null;
}

type DecodedToken = { ok: true; token: string; claims: JWTPayload } | AuthJsonError;

function decodeRequiredJwt(tokens: JsonObject, key: 'id_token' | 'access_token'): DecodedToken {
  const field = `tokens.${key}`;
  const raw = tokens[key];
  if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
    return fail('missing_token', field, `${field} is missing`);
  }
  const claims = typeof raw === 'string' ? decodeOrNull(raw.trim()) : null;
  if (claims === null) return fail('invalid_token', field, `${field} is not a valid JWT`);
  return { ok: true, token: (raw as string).trim(), claims };
}

export function parseAuthJson(text: string, now: Date): AuthJsonResult {
  if (Buffer.byteLength(text, 'utf8') > AUTH_JSON_MAX_BYTES) {
    return fail('invalid_auth_json', null, `auth.json is larger than ${AUTH_JSON_MAX_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail('invalid_auth_json', null, 'auth.json is not valid JSON');
  }
  if (!isObject(doc)) return fail('invalid_auth_json', null, 'auth.json must be a JSON object');

  const modeError = checkMode(doc);
  if (modeError !== null) return modeError;

  const tokens = doc.tokens;
  if (tokens === undefined || tokens === null) return fail('missing_tokens', 'tokens', 'tokens is missing');
  if (!isObject(tokens)) return fail('missing_tokens', 'tokens', 'tokens must be an object');

  const id = decodeRequiredJwt(tokens, 'id_token');
  if (!id.ok) return id;
  const access = decodeRequiredJwt(tokens, 'access_token');
  if (!access.ok) return access;

  const accessTokenExpiresAt = expiryOf(access.claims);
  if (accessTokenExpiresAt === null) {
    return fail('invalid_token', 'tokens.access_token', 'tokens.access_token has no valid exp claim');
  }
  if (accessTokenExpiresAt.getTime() <= now.getTime()) {
    return fail(
      'expired_token',
      'tokens.access_token',
      `tokens.access_token expired at ${accessTokenExpiresAt.toISOString()}`,
    );
  }

  const profile = profileFromClaims(id.claims);
  const chatgptAccountId = nonBlank(tokens.account_id) ?? profile.chatgptAccountId;
  if (chatgptAccountId === null) {
    return fail(
      'missing_account_identifier',
      'tokens.account_id',
      `tokens.account_id is missing and tokens.id_token has no ${AUTH_CLAIM} chatgpt_account_id claim`,
    );
  }

  const refreshToken = nonBlank(tokens.refresh_token);
  if (refreshToken === null) return fail('missing_refresh_token', 'tokens.refresh_token', 'tokens.refresh_token is missing');

  return {
    ok: true,
    value: credentialsFromProfile(profile, {
      accessToken: access.token,
      refreshToken,
      idToken: id.token,
      chatgptAccountId,
      accessTokenExpiresAt,
      residency: residencyOf(access.claims),
    }),
  };
}
