import { request, type Dispatcher } from 'undici';

export const CODEX_OAUTH_CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';

export type RefreshOutcome =
  | { kind: 'refreshed'; accessToken: string; refreshToken: string | null; idToken: string | null; expiresIn: number | null }
  /** The provider rejected the refresh token for good: the account needs a new sign-in. */
  | { kind: 'reauth_required'; code: string }
  | { kind: 'transient'; code: string };

const REAUTH_CODES = new Set(['invalid_grant', 'revoked', 'invalid_refresh_token', 'token_expired', 'refresh_token_reused']);

function errorCodeOf(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  const error = (body as Record<string, unknown>).error;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && typeof (error as Record<string, unknown>).code === 'string') return (error as Record<string, string>).code!;
  return null;
}

/** Classifies the token endpoint's answer per control-plane spec §5.6. Pure. */
export function classifyRefreshResponse(status: number, body: unknown, text: string): RefreshOutcome {
  if (status >= 200 && status < 300 && body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (typeof b.access_token === 'string' && b.access_token) {
      return {
        kind: 'refreshed',
        accessToken: b.access_token,
        refreshToken: typeof b.refresh_token === 'string' && b.refresh_token ? b.refresh_token : null,
        idToken: typeof b.id_token === 'string' && b.id_token ? b.id_token : null,
        expiresIn: typeof b.expires_in === 'number' ? b.expires_in : null,
      };
    }
    return { kind: 'transient', code: 'refresh_response_invalid' };
  }
  if (status === 400 || status === 401 || status === 403) {
    const code = errorCodeOf(body);
    if (code && REAUTH_CODES.has(code)) return { kind: 'reauth_required', code };
    const lower = text.toLowerCase();
    if (lower.includes('refresh') && lower.includes('token') && /revoked|expired|invalid/.test(lower)) return { kind: 'reauth_required', code: code ?? 'refresh_rejected' };
  }
  return { kind: 'transient', code: `refresh_http_${status}` };
}

export async function requestTokenRefresh(options: { issuer: string; refreshToken: string; dispatcher: Dispatcher; timeoutMs?: number }): Promise<RefreshOutcome> {
  try {
    const response = await request(`${options.issuer}/oauth/token`, {
      method: 'POST',
      dispatcher: options.dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: options.refreshToken, client_id: CODEX_OAUTH_CLIENT_ID }).toString(),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const text = await response.body.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return classifyRefreshResponse(response.statusCode, body, text.slice(0, 2000));
  } catch (error) {
    return { kind: 'transient', code: (error as { code?: string }).code ?? 'refresh_transport_error' };
  }
}
