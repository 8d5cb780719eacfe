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
  model_not_allowed: { status: 403, message: 'model is not allowed for this api key' },
  api_key_policy_limit_exceeded: { status: 400, message: 'api key policy limit exceeded' },
  not_found: { status: 404, message: 'not found' },
  pool_not_found: { status: 404, message: 'pool does not exist or is not active' },
  unsupported_endpoint: { status: 404, message: 'unsupported endpoint' },
  conflict: { status: 409, message: 'conflict' },
  bootstrap_completed: { status: 409, message: 'the instance owner already exists' },
  last_active_owner: { status: 409, message: 'the instance needs at least one active owner' },
  totp_already_enabled: { status: 409, message: 'two-factor authentication is already enabled' },
  totp_not_enabled: { status: 409, message: 'two-factor authentication is not enabled' },
  stale_settings: { status: 409, message: 'the settings were updated by another operator; reload and try again' },
  confirmation_mismatch: { status: 422, message: 'the confirmation does not match' },
  pool_not_archived: { status: 409, message: 'archive the pool before deleting it' },
  invalid_current_password: { status: 422, message: 'Current password is invalid' },
  invalid_password: { status: 422, message: 'the new password does not meet the password policy' },
  payload_too_large: { status: 413, message: 'request body is too large' },
  unsupported_media_type: { status: 415, message: 'unsupported content type' },
  rate_limited: { status: 429, message: 'too many requests' },
  login_locked: { status: 429, message: 'too many failed sign-in attempts; try again later' },
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
