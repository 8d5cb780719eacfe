// The issuer's endpoints for sign-in (control-plane spec §5.3): one call each, 30 s, no retry.
// Answers are handed to the pure interpreters in oauth-protocol.ts; transport failures become
// `token_exchange_failed`. Request and response bodies are never logged (they carry codes and tokens).

import { request, type Dispatcher } from 'undici';
import { CODEX_OAUTH_CLIENT_ID, interpretDevicePoll, interpretTokenExchange, interpretUserCodeResponse, type DeviceCode, type DevicePoll, type ExchangedTokens, type OAuthFailure } from './oauth-protocol.ts';
import { CODEX_ORIGINATOR } from './upstream-http.ts';

const OAUTH_TIMEOUT_MS = 30_000;

export type IssuerDeps = { issuer: string; dispatcher: Dispatcher; timeoutMs?: number };

type Answer = { status: number; body: unknown };

async function call(deps: IssuerDeps, path: string, body: { form: Record<string, string> } | { json: Record<string, string> }): Promise<Answer | OAuthFailure> {
  try {
    const response = await request(`${deps.issuer}${path}`, {
      method: 'POST',
      dispatcher: deps.dispatcher,
      headers: { 'content-type': 'form' in body ? 'application/x-www-form-urlencoded' : 'application/json', accept: 'application/json', originator: CODEX_ORIGINATOR },
      body: 'form' in body ? new URLSearchParams(body.form).toString() : JSON.stringify(body.json),
      signal: AbortSignal.timeout(deps.timeoutMs ?? OAUTH_TIMEOUT_MS),
    });
    const text = await response.body.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: response.statusCode, body: parsed };
  } catch (error) {
    return { ok: false, code: 'token_exchange_failed', message: `ChatGPT sign-in service unreachable (${(error as { code?: string }).code ?? (error as Error).name})` };
  }
}

/** `authorization_code` grant at `{issuer}/oauth/token`. */
export async function exchangeAuthorizationCode(deps: IssuerDeps, input: { code: string; redirectUri: string; codeVerifier: string }): Promise<{ ok: true; value: ExchangedTokens } | OAuthFailure> {
  const answer = await call(deps, '/oauth/token', {
    form: { grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri, client_id: CODEX_OAUTH_CLIENT_ID, code_verifier: input.codeVerifier },
  });
  return 'ok' in answer ? answer : interpretTokenExchange(answer.status, answer.body);
}

export async function requestDeviceCode(deps: IssuerDeps, now: Date): Promise<{ ok: true; value: DeviceCode } | OAuthFailure> {
  const answer = await call(deps, '/api/accounts/deviceauth/usercode', { json: { client_id: CODEX_OAUTH_CLIENT_ID } });
  return 'ok' in answer ? answer : interpretUserCodeResponse(answer.status, answer.body, deps.issuer, now);
}

export async function pollDeviceToken(deps: IssuerDeps, input: { deviceAuthId: string; userCode: string }): Promise<DevicePoll> {
  const answer = await call(deps, '/api/accounts/deviceauth/token', { json: { device_auth_id: input.deviceAuthId, user_code: input.userCode } });
  return 'ok' in answer ? { kind: 'failed', message: answer.message } : interpretDevicePoll(answer.status, answer.body);
}
