import { describe, expect, test } from 'vitest';
import { buildAuthorizeUrl, interpretDevicePoll, interpretTokenExchange, interpretUserCodeResponse, newPkce, parseCallbackUrl, pkceChallenge, relinkProof, slowedInterval, type IdentityFacts } from './oauth-protocol.ts';

describe('authorize URL', () => {
  test('carries the Codex client, S256 PKCE, the localhost redirect and the state', () => {
    const pkce = newPkce();
    expect(Buffer.from(pkce.verifier, 'base64url')).toHaveLength(64);
    expect(pkce.challenge).toBe(pkceChallenge(pkce.verifier));
    const url = new URL(buildAuthorizeUrl({ issuer: 'https://auth.openai.com', state: 'st4te', codeChallenge: pkce.challenge }));
    expect(url.host).toBe('auth.openai.com');
    expect(url.pathname).toBe('/oauth/authorize');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'app_EMoamEEZ73f0CkXaXp7hrann',
      redirect_uri: 'http://localhost:1455/auth/callback',
      scope: 'openid profile email offline_access api.connectors.read api.connectors.invoke',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      state: 'st4te',
      id_token_add_organizations: 'true',
      codex_cli_simplified_flow: 'true',
      originator: 'codex_cli_rs',
    });
  });
});

describe('callback URL', () => {
  test.each([
    ['not a URL', 'pasted code 1234', 'invalid_callback_url'],
    ['a fragment', 'http://localhost:1455/auth/callback?code=c&state=s#x', 'invalid_callback_url'],
    ['user info', 'http://me:pw@localhost:1455/auth/callback?code=c&state=s', 'invalid_callback_url'],
    ['port 1456', 'http://localhost:1456/auth/callback?code=c&state=s', 'invalid_callback_origin'],
    ['https', 'https://localhost:1455/auth/callback?code=c&state=s', 'invalid_callback_origin'],
    ['another host', 'http://example.com:1455/auth/callback?code=c&state=s', 'invalid_callback_origin'],
    ['another path', 'http://localhost:1455/callback?code=c&state=s', 'invalid_callback_origin'],
    ['two codes', 'http://localhost:1455/auth/callback?code=a&code=b&state=s', 'duplicate_callback_param'],
    ['two states', 'http://localhost:1455/auth/callback?code=a&state=s&state=t', 'duplicate_callback_param'],
    ['no state', 'http://localhost:1455/auth/callback?code=a', 'missing_state'],
    ['a blank state', 'http://localhost:1455/auth/callback?code=a&state=%20', 'missing_state'],
    ['neither code nor error', 'http://localhost:1455/auth/callback?state=s', 'missing_callback_result'],
    ['both code and error', 'http://localhost:1455/auth/callback?state=s&code=a&error=access_denied', 'missing_callback_result'],
  ])('%s → %s', (_name, text, code) => {
    const result = parseCallbackUrl(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe(code);
  });

  test('a good address yields the state and the code (127.0.0.1 too)', () => {
    expect(parseCallbackUrl(' http://127.0.0.1:1455/auth/callback?code=abc&state=xyz&scope=openid ')).toEqual({ ok: true, state: 'xyz', outcome: { kind: 'code', code: 'abc' } });
    expect(parseCallbackUrl('http://localhost:1455/auth/callback?error=access_denied&state=xyz')).toEqual({ ok: true, state: 'xyz', outcome: { kind: 'error', error: 'access_denied' } });
  });
});

describe('device code answers', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  test('usercode: string interval, usercode alias, default expiry of 600 s', () => {
    const result = interpretUserCodeResponse(200, { device_auth_id: 'd1', usercode: 'ABCD-1234', interval: '7' }, 'https://auth.openai.com', now);
    expect(result).toEqual({ ok: true, value: { deviceAuthId: 'd1', userCode: 'ABCD-1234', intervalSeconds: 7, expiresAt: new Date('2026-01-01T00:10:00Z'), verificationUrl: 'https://auth.openai.com/codex/device' } });
    const defaulted = interpretUserCodeResponse(200, { device_auth_id: 'd1', user_code: 'X', interval: 'soon', expires_at: '2026-01-01T00:05:00Z' }, 'https://i', now);
    expect(defaulted.ok && defaulted.value).toMatchObject({ intervalSeconds: 5, expiresAt: new Date('2026-01-01T00:05:00Z') });
    expect(interpretUserCodeResponse(500, null, 'https://i', now)).toMatchObject({ ok: false, code: 'token_exchange_failed' });
    expect(interpretUserCodeResponse(200, { user_code: 'X' }, 'https://i', now)).toMatchObject({ ok: false, code: 'token_exchange_failed' });
  });

  test.each([
    ['403 while pending', 403, { error: { code: 'deviceauth_authorization_pending' } }, 'pending'],
    ['404 while pending', 404, null, 'pending'],
    ['authorization_pending', 400, { error: 'authorization_pending' }, 'pending'],
    ['slow_down', 400, { error: 'slow_down' }, 'slow_down'],
    ['expired_token', 400, { error: 'expired_token' }, 'expired'],
    ['access_denied (error object)', 400, { error: { code: 'access_denied' } }, 'denied'],
    ['a server error', 500, null, 'failed'],
    ['200 without a code', 200, {}, 'failed'],
  ])('poll: %s → %s', (_name, status, body, kind) => {
    expect(interpretDevicePoll(status, body).kind).toBe(kind);
  });

  test('poll: approval carries the authorization code and verifier; slow_down adds 5 s', () => {
    expect(interpretDevicePoll(200, { authorization_code: 'ac', code_verifier: 'v', code_challenge: 'c' })).toEqual({ kind: 'approved', authorizationCode: 'ac', codeVerifier: 'v' });
    expect(slowedInterval(5)).toBe(10);
  });
});

test('token exchange needs access and id tokens; refresh is optional', () => {
  expect(interpretTokenExchange(200, { access_token: 'a', id_token: 'i' })).toEqual({ ok: true, value: { accessToken: 'a', idToken: 'i', refreshToken: null } });
  expect(interpretTokenExchange(200, { access_token: 'a' })).toMatchObject({ ok: false, code: 'token_exchange_failed' });
  expect(interpretTokenExchange(400, { error: 'invalid_grant' })).toMatchObject({ ok: false, code: 'token_exchange_failed' });
});

describe('relink proof', () => {
  const stored: IdentityFacts = { chatgptAccountId: 'acct-1', chatgptUserId: 'user-1', email: 'a@example.com', workspaceId: 'ws-1', planFamily: 'pro', seatType: 'member' };
  const none = { hasConcreteSibling: false };
  test.each<[string, IdentityFacts, IdentityFacts, { hasConcreteSibling: boolean }, string]>([
    ['the same account', stored, stored, none, 'ok'],
    ['another account id', stored, { ...stored, chatgptAccountId: 'acct-2' }, none, 'identity_mismatch'],
    ['no account id in the sign-in', stored, { ...stored, chatgptAccountId: null }, none, 'identity_mismatch'],
    ['another user', stored, { ...stored, chatgptUserId: 'user-2' }, none, 'identity_mismatch'],
    ['another workspace', stored, { ...stored, workspaceId: 'ws-2' }, none, 'identity_mismatch'],
    ['no workspace, all else equal', stored, { ...stored, workspaceId: null }, none, 'ok'],
    ['no workspace and another plan', stored, { ...stored, workspaceId: null, planFamily: 'plus' }, none, 'identity_mismatch'],
    ['no stored account id, another email', { ...stored, chatgptAccountId: null }, { ...stored, email: 'b@example.com' }, none, 'identity_mismatch'],
    ['legacy target with a concrete sibling', { ...stored, workspaceId: null, chatgptUserId: null }, stored, { hasConcreteSibling: true }, 'identity_conflict'],
  ])('%s → %s', (_name, a, b, options, want) => {
    const result = relinkProof(a, b, options);
    expect(result.ok ? 'ok' : result.code).toBe(want);
  });
});
