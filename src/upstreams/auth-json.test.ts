import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUTH_CLAIM, PROFILE_CLAIM, parseAuthJson, parseTokenClaims, readIdTokenProfile } from './auth-json.ts';
import type { AuthJsonErrorCode, AuthJsonResult } from './auth-json.ts';

const SECRET = new TextEncoder().encode('test-secret-at-least-32-bytes-long!!');
const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);

function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(SECRET);
}

let idToken: string;
let accessToken: string;
let expiredAccess: string;
let accessNoExp: string;
let idNoAccount: string;
const refreshToken = 'rt_super-secret-refresh-value';

beforeAll(async () => {
  idToken = await jwt({
    email: 'Alice@Example.COM',
    exp: NOW_S + 3600,
    [AUTH_CLAIM]: {
      chatgpt_account_id: 'acct-claim',
      chatgpt_user_id: 'user-1',
      chatgpt_plan_type: 'Pro Lite+',
      chatgpt_workspace_id: 'ws-auth',
      workspace_name: 'Team A',
    },
    workspace_id: 'ws-top',
    seat_type: 'member',
  });
  accessToken = await jwt({
    exp: NOW_S + 1800,
    [AUTH_CLAIM]: { chatgpt_account_id: 'acct-claim', chatgpt_compute_residency: 'eu' },
  });
  expiredAccess = await jwt({ exp: NOW_S - 60, [AUTH_CLAIM]: {} });
  accessNoExp = await jwt({ [AUTH_CLAIM]: {} });
  idNoAccount = await jwt({ [PROFILE_CLAIM]: { email: 'bob@example.com' }, [AUTH_CLAIM]: { chatgpt_plan_type: 'plus' } });
});

function doc(overrides: Record<string, unknown> = {}, tokenOverrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    auth_mode: 'chatgpt',
    OPENAI_API_KEY: null,
    tokens: { id_token: idToken, access_token: accessToken, refresh_token: refreshToken, account_id: 'acct-file', ...tokenOverrides },
    last_refresh: '2026-01-01T00:00:00Z',
    ...overrides,
  });
}

function expectError(result: AuthJsonResult, code: AuthJsonErrorCode, field: string | null, message?: RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.code).toBe(code);
  expect(result.field).toBe(field);
  if (message) expect(result.message).toMatch(message);
  // Messages must never echo token material.
  for (const secret of [idToken, accessToken, expiredAccess, accessNoExp, refreshToken, 'sk-live-key', 'pat-secret-value']) {
    expect(result.message).not.toContain(secret);
  }
}

describe('parseAuthJson: valid files', () => {
  it('extracts credentials and claims', () => {
    const result = parseAuthJson(doc(), NOW);
    expect(result).toEqual({
      ok: true,
      value: {
        accessToken,
        refreshToken,
        idToken,
        chatgptAccountId: 'acct-file',
        chatgptUserId: 'user-1',
        email: 'alice@example.com',
        planType: 'Pro Lite+',
        planFamily: 'pro-lite',
        workspaceId: 'ws-auth',
        workspaceLabel: 'Team A',
        seatType: 'member',
        accessTokenExpiresAt: new Date((NOW_S + 1800) * 1000),
        residency: 'eu',
        accountLabel: 'alice@example.com',
      },
    });
  });

  it('takes the account id from the id_token claim when tokens.account_id is absent', () => {
    const result = parseAuthJson(doc({}, { account_id: undefined }), NOW);
    expect(result.ok && result.value.chatgptAccountId).toBe('acct-claim');
  });

  it.each(['chatgpt', 'ChatGPT', 'chat_gpt', 'CHAT_GPT'])('accepts auth_mode %s', (mode) => {
    expect(parseAuthJson(doc({ auth_mode: mode }), NOW).ok).toBe(true);
  });

  it('accepts a missing auth_mode and an empty OPENAI_API_KEY', () => {
    expect(parseAuthJson(doc({ auth_mode: undefined, OPENAI_API_KEY: '' }), NOW).ok).toBe(true);
  });

  it('accepts a blank personal access token', () => {
    expect(parseAuthJson(doc({ personalAccessToken: '  ' }), NOW).ok).toBe(true);
  });

  it('falls back to the profile email and the default label', async () => {
    const access = await jwt({ exp: NOW_S + 60, [AUTH_CLAIM]: { chatgpt_compute_residency: 'no_constraint' } });
    const viaProfile = parseAuthJson(doc({}, { id_token: idNoAccount, access_token: access }), NOW);
    expect(viaProfile.ok && viaProfile.value).toMatchObject({
      email: 'bob@example.com',
      accountLabel: 'bob@example.com',
      chatgptAccountId: 'acct-file',
      residency: null,
      planFamily: 'plus',
      workspaceId: null,
      seatType: null,
    });
    const bare = await jwt({ [AUTH_CLAIM]: { chatgpt_account_id: 'a' } });
    const noEmail = parseAuthJson(doc({}, { id_token: bare }), NOW);
    expect(noEmail.ok && noEmail.value.accountLabel).toBe('Codex account');
    expect(noEmail.ok && noEmail.value.email).toBeNull();
  });
});

describe('parseAuthJson: errors', () => {
  const cases: Array<[string, () => string, AuthJsonErrorCode, string | null, RegExp]> = [
    ['not JSON', () => '{nope', 'invalid_auth_json', null, /not valid JSON/],
    ['not an object', () => '[1,2]', 'invalid_auth_json', null, /JSON object/],
    ['null', () => 'null', 'invalid_auth_json', null, /JSON object/],
    ['too large', () => JSON.stringify({ pad: 'x'.repeat(64_000) }), 'invalid_auth_json', null, /larger than 64000 bytes/],
    ['API key', () => doc({ OPENAI_API_KEY: 'sk-live-key' }), 'unsupported_auth_json', 'OPENAI_API_KEY', /^OPENAI_API_KEY is set: API-key auth\.json files are not supported; run codex login with ChatGPT$/],
    ['personalAccessToken', () => doc({ personalAccessToken: 'pat-secret-value' }), 'unsupported_auth_json', 'personalAccessToken', /personal-access-token/],
    ['personal_access_token', () => doc({ personal_access_token: 'pat-secret-value' }), 'unsupported_auth_json', 'personal_access_token', /personal_access_token is set/],
    ['api key auth_mode', () => doc({ auth_mode: 'apikey' }), 'unsupported_auth_json', 'auth_mode', /auth_mode "apikey" is not supported/],
    ['PAT auth_mode', () => doc({ auth_mode: 'personal_access_token' }), 'unsupported_auth_json', 'auth_mode', /not supported/],
    ['at- token without auth_mode', () => doc({ auth_mode: undefined }, { access_token: 'at-pat-secret-value' }), 'unsupported_auth_json', 'tokens.access_token', /personal access token/],
    ['no tokens', () => doc({ tokens: undefined }), 'missing_tokens', 'tokens', /^tokens is missing$/],
    ['tokens not object', () => doc({ tokens: 'x' }), 'missing_tokens', 'tokens', /tokens must be an object/],
    ['no id_token', () => doc({}, { id_token: undefined }), 'missing_token', 'tokens.id_token', /^tokens\.id_token is missing$/],
    ['blank id_token', () => doc({}, { id_token: ' ' }), 'missing_token', 'tokens.id_token', /tokens\.id_token is missing/],
    ['bad id_token', () => doc({}, { id_token: 'abc.def' }), 'invalid_token', 'tokens.id_token', /^tokens\.id_token is not a valid JWT$/],
    ['no access_token', () => doc({}, { access_token: null }), 'missing_token', 'tokens.access_token', /^tokens\.access_token is missing$/],
    ['bad access_token', () => doc({}, { access_token: `${refreshToken}.x.y` }), 'invalid_token', 'tokens.access_token', /^tokens\.access_token is not a valid JWT$/],
    ['non-string access_token', () => doc({}, { access_token: 42 }), 'invalid_token', 'tokens.access_token', /not a valid JWT/],
    ['access without exp', () => doc({}, { access_token: accessNoExp }), 'invalid_token', 'tokens.access_token', /exp/],
    ['expired access', () => doc({}, { access_token: expiredAccess }), 'expired_token', 'tokens.access_token', new RegExp(`^tokens\\.access_token expired at ${new Date((NOW_S - 60) * 1000).toISOString().replace(/\./g, '\\.')}$`)],
    ['no account id', () => doc({}, { id_token: idNoAccount, account_id: ' ' }), 'missing_account_identifier', 'tokens.account_id', /tokens\.account_id is missing/],
    ['no refresh token', () => doc({}, { refresh_token: undefined }), 'missing_refresh_token', 'tokens.refresh_token', /^tokens\.refresh_token is missing$/],
    ['blank refresh token', () => doc({}, { refresh_token: '' }), 'missing_refresh_token', 'tokens.refresh_token', /tokens\.refresh_token is missing/],
  ];

  it.each(cases)('%s', (_name, input, code, field, message) => {
    expectError(parseAuthJson(input(), NOW), code, field, message);
  });

  it('expires exactly at exp', () => {
    const exp = new Date((NOW_S + 1800) * 1000);
    expectError(parseAuthJson(doc(), exp), 'expired_token', 'tokens.access_token');
  });

  it('runs only the first applicable mode check', () => {
    // A blank PAT settles the mode, so a foreign auth_mode is not inspected.
    expect(parseAuthJson(doc({ personalAccessToken: '', auth_mode: 'apikey' }), NOW).ok).toBe(true);
    // An explicit chatgpt auth_mode settles it before the `at-` heuristic.
    expectError(parseAuthJson(doc({}, { access_token: 'at-pat-secret-value' }), NOW), 'invalid_token', 'tokens.access_token');
    // API key wins over everything.
    expectError(parseAuthJson(doc({ OPENAI_API_KEY: 'sk-live-key', auth_mode: 'chatgpt' }), NOW), 'unsupported_auth_json', 'OPENAI_API_KEY');
  });

  it('does not quote odd auth_mode values', () => {
    const result = parseAuthJson(doc({ auth_mode: 'eyJhbGciOi.secret.value.that.is.long' }), NOW);
    expectError(result, 'unsupported_auth_json', 'auth_mode', /^auth_mode is not supported/);
  });
});

describe('token claim helpers', () => {
  it('parseTokenClaims reads expiry, account id and residency', async () => {
    expect(parseTokenClaims(accessToken)).toEqual({
      expiresAt: new Date((NOW_S + 1800) * 1000),
      chatgptAccountId: 'acct-claim',
      residency: 'eu',
    });
    const topLevel = await jwt({ chatgpt_compute_residency: 'us' });
    expect(parseTokenClaims(topLevel).residency).toBe('us');
    const weird = await jwt({ [AUTH_CLAIM]: { chatgpt_compute_residency: 'e\u0001u' } });
    expect(parseTokenClaims(weird).residency).toBeNull();
    const noConstraint = await jwt({ [AUTH_CLAIM]: { chatgpt_compute_residency: 'NO_CONSTRAINT' } });
    expect(parseTokenClaims(noConstraint).residency).toBeNull();
    expect(parseTokenClaims('garbage')).toEqual({ expiresAt: null, chatgptAccountId: null, residency: null });
  });

  it('readIdTokenProfile reads the identity profile', () => {
    expect(readIdTokenProfile(idToken)).toEqual({
      email: 'alice@example.com',
      planType: 'Pro Lite+',
      planFamily: 'pro-lite',
      chatgptAccountId: 'acct-claim',
      chatgptUserId: 'user-1',
      workspaceId: 'ws-auth',
      workspaceLabel: 'Team A',
      seatType: 'member',
    });
    expect(readIdTokenProfile('nope').email).toBeNull();
  });
});
