/**
 * One catalogue of gateway error codes: status and default message per code. Every surface builds
 * its envelope from a PoolerError; clients switch on `code`, never on the message.
 */
export const ERROR_CATALOGUE = {
  invalid_request: { status: 400, message: 'invalid request' },
  unsupported_parameter: { status: 400, message: 'unsupported parameter' },
  websocket_upgrade_required: { status: 400, message: 'this endpoint needs a websocket upgrade' },
  upgrade_required: { status: 426, message: 'websocket transport is not available; use HTTP streaming' },
  invalid_model: { status: 400, message: 'unknown model' },
  invalid_json_schema: { status: 400, message: 'invalid JSON schema' },
  invalid_function_parameters: { status: 400, message: 'invalid function parameters' },
  // /v1/responses replays of earlier output items the gateway no longer (or never) held (docs/clients.md).
  item_reference_not_found: { status: 400, message: 'item_reference names an item the gateway does not hold' },
  v1_compatibility_disabled: { status: 403, message: 'OpenAI /v1 compatibility is disabled for this pool' },
  api_key_missing: { status: 401, message: 'api key is required' },
  api_key_revoked: { status: 401, message: 'api key is revoked' },
  api_key_paused: { status: 401, message: 'api key is paused' },
  api_key_inactive: { status: 401, message: 'api key is inactive' },
  api_key_disabled: { status: 401, message: 'api key is disabled' },
  api_key_expired: { status: 401, message: 'api key is expired' },
  unauthorized: { status: 401, message: 'authentication required' },
  invalid_session: { status: 401, message: 'operator session is invalid or expired' },
  invalid_credentials: { status: 401, message: 'Invalid email or password.' },
  totp_required: { status: 401, message: 'enter the code from your authenticator app to finish signing in' },
  totp_invalid: { status: 401, message: 'Authenticator code is invalid.' },
  csrf_invalid: { status: 403, message: 'the x-csrf-token header is missing or does not match this session' },
  capability_denied: { status: 403, message: 'your role does not allow this action' },
  password_change_required: { status: 403, message: 'change your temporary password before doing anything else' },
  forbidden: { status: 403, message: 'not allowed' },
  // Ingress firewall (control-plane spec §8.5).
  access_denied: { status: 403, message: 'client IP is not allowed' },
  model_not_allowed: { status: 403, message: 'model is not allowed for this api key' },
  api_key_policy_limit_exceeded: { status: 400, message: 'api key policy limit exceeded' },
  reasoning_effort_not_allowed: { status: 400, message: 'reasoning effort is not available for this API key' },
  // A key policy that contradicts itself (control-plane spec §6.2): nothing is saved.
  invalid_policy: { status: 400, message: 'the api key policy is not consistent' },
  not_found: { status: 404, message: 'not found' },
  pool_not_found: { status: 404, message: 'pool does not exist or is not active' },
  unsupported_endpoint: { status: 404, message: 'unsupported endpoint' },
  conflict: { status: 409, message: 'conflict' },
  // Websocket sessions (runtime spec §8, routing spec B6).
  duplicate_turn: { status: 409, message: 'turn id was already used in this session' },
  websocket_owner_unavailable: { status: 503, message: 'websocket owner is unavailable' },
  bootstrap_completed: { status: 409, message: 'the instance owner already exists' },
  last_active_owner: { status: 409, message: 'the instance needs at least one active owner' },
  totp_already_enabled: { status: 409, message: 'two-factor authentication is already enabled' },
  totp_not_enabled: { status: 409, message: 'two-factor authentication is not enabled' },
  stale_settings: { status: 409, message: 'the settings were updated by another operator; reload and try again' },
  metrics_token_from_env: { status: 409, message: 'the /metrics token comes from CODEX_POOLER_METRICS_TOKEN and cannot be changed here' },
  confirmation_mismatch: { status: 422, message: 'the confirmation does not match' },
  observatory_login_failed: { status: 422, message: 'The API key is invalid or unavailable.' },
  pool_not_archived: { status: 409, message: 'archive the pool before deleting it' },
  invalid_current_password: { status: 422, message: 'Current password is invalid' },
  invalid_password: { status: 422, message: 'the new password does not meet the password policy' },
  payload_too_large: { status: 413, message: 'request body is too large' },
  unsupported_media_type: { status: 415, message: 'unsupported content type' },
  rate_limited: { status: 429, message: 'too many requests' },
  login_locked: { status: 429, message: 'too many failed sign-in attempts; try again later' },
  // Upstream account sign-in (OAuth link/relink, invites; control-plane spec §5.3, §5.4).
  invalid_callback_url: { status: 400, message: 'paste the whole address your browser ended on (http://localhost:1455/auth/callback?…)' },
  invalid_callback_origin: { status: 400, message: 'the callback address must be http://localhost:1455/auth/callback' },
  missing_state: { status: 400, message: 'the callback address has no state parameter' },
  duplicate_callback_param: { status: 400, message: 'the callback address repeats a parameter' },
  missing_callback_result: { status: 400, message: 'the callback address must carry exactly one of code or error' },
  provider_denied: { status: 400, message: 'the sign-in was denied at ChatGPT' },
  invalid_state: { status: 400, message: 'the callback address belongs to another sign-in' },
  expired_flow: { status: 400, message: 'this sign-in expired; start a new one' },
  flow_not_pending: { status: 409, message: 'this sign-in is already finished' },
  stale_flow: { status: 409, message: 'a newer sign-in for this account replaced this one' },
  identity_mismatch: { status: 409, message: 'the ChatGPT account signed in is not the account being re-authenticated' },
  identity_conflict: { status: 409, message: 'the ChatGPT account matches more than one stored account' },
  codex_account_identity_missing: { status: 502, message: 'the sign-in answer carries no ChatGPT account id' },
  token_exchange_failed: { status: 502, message: 'ChatGPT did not exchange the sign-in code for tokens' },
  invite_exists: { status: 409, message: 'an active invite for this email already exists in this pool' },
  invite_not_found: { status: 404, message: 'this invite does not exist or was revoked' },
  invite_consumed: { status: 410, message: 'this invite was already used or has expired' },
  invite_email_mismatch: { status: 409, message: 'the ChatGPT account signed in does not use the invited email' },
  // Backend bridge and /v1 files, audio, images (runtime spec §1.3, §1.4, §9.4, §9.5).
  request_too_large: { status: 413, message: 'request is too large' },
  unsupported_multipart_file_create: { status: 400, message: 'file creation takes a JSON body, not multipart' },
  image_generation_disabled: { status: 403, message: 'Image generation is disabled for this pool' },
  file_not_found: { status: 404, message: 'file not found' },
  upstream_file_bridge_invalid_response: { status: 502, message: 'upstream file bridge returned an invalid response' },
  image_generation_failed: { status: 502, message: 'upstream image response contained no image data' },
  internal_error: { status: 500, message: 'internal error' },
  upstream_request_failed: { status: 502, message: 'upstream request failed' },
  invalid_upstream_response: { status: 502, message: 'invalid upstream response' },
  no_eligible_backend: { status: 503, message: 'no eligible upstream account' },
  server_is_overloaded: { status: 503, message: 'server is overloaded' },
  service_unavailable: { status: 503, message: 'service unavailable' },
  upstream_timeout: { status: 504, message: 'upstream timed out' },
} as const satisfies Record<string, { status: number; message: string }>;

export type PoolerCode = keyof typeof ERROR_CATALOGUE;

export class PoolerError extends Error {
  readonly code: PoolerCode;
  readonly status: number;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  /** Extra fields for the error object, e.g. `resets_at` on a key limit. */
  readonly details: Record<string, unknown>;

  constructor(code: PoolerCode, message?: string, options: { param?: string | null; status?: number; headers?: Record<string, string>; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message ?? ERROR_CATALOGUE[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PoolerError';
    this.code = code;
    this.status = options.status ?? ERROR_CATALOGUE[code].status;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
    this.details = options.details ?? {};
  }
}

export type ErrorEnvelope = { error: { message: string; type: string; code: string; param: string | null } };

export function errorType(code: string, status: number): string {
  if (code === 'server_is_overloaded' || status >= 500) return 'server_error';
  if (status === 401) return 'invalid_request_error';
  return 'invalid_request_error';
}

export function toEnvelope(error: PoolerError): ErrorEnvelope {
  return { error: { ...error.details, message: error.message, type: errorType(error.code, error.status), code: error.code, param: error.param } };
}

/** Validation failure of operator input (CLI, admin API): 400 with the field that is wrong. */
export function invalidInput(message: string, param: string | null = null): PoolerError {
  return new PoolerError('invalid_request', message, { param });
}
