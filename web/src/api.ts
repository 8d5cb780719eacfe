// Thin client for the admin JSON API (docs/admin-api.md): same-origin cookie session, the CSRF
// token from the latest session answer on every mutation, errors parsed from the envelope.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly param: string | null;
  constructor(status: number, code: string, message: string, param: string | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

let csrfToken: string | null = null;
let onSessionLost: (() => void) | null = null;

export const setCsrfToken = (token: string | null) => {
  csrfToken = token;
};
export const setSessionLostHandler = (handler: () => void) => {
  onSessionLost = handler;
};

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(`/api/admin${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; param?: string | null } } | null)?.error;
    const failure = new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? `Request failed (${response.status})`, error?.param ?? null);
    if (failure.code === 'invalid_session' || failure.code === 'password_change_required') onSessionLost?.();
    throw failure;
  }
  const csrf = (parsed as { csrf_token?: unknown } | null)?.csrf_token;
  if (typeof csrf === 'string') csrfToken = csrf;
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => api<T>('POST', path, body);
export const patch = <T>(path: string, body: unknown) => api<T>('PATCH', path, body);
export const put = <T>(path: string, body: unknown) => api<T>('PUT', path, body);
export const del = <T>(path: string, body: unknown = {}) => api<T>('DELETE', path, body);

/** Builds `?a=1&b=2` from the defined, non-empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// ---- shapes (the parts the UI reads) ----

export type Permissions = Record<'pool.manage' | 'operator.manage' | 'instance_settings.manage' | 'audit.view_global', boolean>;

export type SignedIn = {
  authenticated: true;
  user: { id: string; email: string; display_name: string | null };
  auth: { roles: string[]; pool_ids: string[]; permissions: Permissions; totp_enabled: boolean; password_change_required: boolean };
  session: { id: string; expires_at: string };
  csrf_token: string;
};
/** `signed_out` is set by the UI itself after a deliberate sign-out (no "return to this page"). */
export type SessionState = SignedIn | { authenticated: false; mfa_required?: boolean; csrf_token?: string; signed_out?: boolean };

export type Pool = { id: string; slug: string; name: string; status: string; created_at: string; account_count: number; api_key_count: number };
export type RoutingStrategy = 'bridge_ring' | 'deterministic_rotation' | 'least_recent_success' | 'quota_first';
/** GET/PATCH /pools/:id/routing (docs/admin-api.md, "Routing settings"). */
export type PoolRouting = {
  routing_strategy: RoutingStrategy;
  bridge_ring_size: number;
  sticky_websocket_sessions: boolean;
  sticky_http_sessions: boolean;
  prompt_cache_affinity_enabled: boolean;
  v1_compatibility_enabled: boolean;
  request_compression_enabled: boolean;
  allow_image_generation: boolean;
};

export type QuotaWindow = { used_percent: number; window_minutes: number; resets_at: string | null; stale: boolean } | null;
export type Account = {
  id: string;
  pool_id: string;
  pool_slug: string;
  label: string | null;
  email: string | null;
  plan: string | null;
  state: string;
  cooldown_until: string | null;
  last_success_at: string | null;
  quota: { primary: QuotaWindow; secondary: QuotaWindow } | null;
};

export type ApiKey = {
  id: string;
  pool_id: string;
  prefix: string;
  label: string | null;
  notes: string | null;
  status: string;
  state: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
  dashboard_access?: boolean;
  model_mode: 'all' | 'selected' | 'deny_all';
  allowed_models: string[];
  enforced_model: string | null;
  maximum_reasoning_effort: string | null;
  enforced_reasoning_effort: string | null;
  service_tier: string | null;
};

/** One binding's limits (null = no limit); GET/PUT /api-keys/:id/limits. */
export type LimitValues = {
  max_requests_per_minute: number | null;
  max_tokens_per_day: number | null;
  max_tokens_per_week: number | null;
  max_input_tokens_per_request: number | null;
  max_output_tokens_per_request: number | null;
};
export type KeyLimits = { default: LimitValues | null; models: (LimitValues & { model: string })[] };
export type PoolModels = { fetched: boolean; items: { id: string; display_name: string }[] };

export type Tokens = { input: number; cached_input: number; output: number; reasoning: number; total: number };
export type RequestLog = {
  id: string;
  correlation_id: string;
  pool_id: string;
  api_key_prefix: string | null;
  api_key_label: string | null;
  account_label: string | null;
  model: string | null;
  requested_model: string | null;
  endpoint: string;
  transport: string;
  status: string;
  response_status_code: number | null;
  latency_ms: number | null;
  tokens: Tokens | null;
  last_error_code: string | null;
  /** Sanitized; `client_request_id` is the x-request-id the client got back. */
  metadata: Record<string, unknown> | null;
  admitted_at: string;
};
export type Page<T> = { items: T[]; next_cursor: string | null };

/** One group of the ledger usage report (docs/admin-api.md › Usage); costs in USD. */
export type UsageMeasures = {
  requests: number;
  succeeded: number;
  failed: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  settled_cost_micros: number;
  estimated_cost_micros: number;
  cost_usd: number;
  unpriced_requests: number;
  priced: boolean;
};
export type UsageRow = UsageMeasures & { key: string | null; label: string | null };
export type Usage = { group_by: string; from: string; to: string; rows: UsageRow[]; totals: UsageMeasures };

export type OperatorSession = { id: string; current: boolean; created_at: string; last_seen_at: string | null; expires_at: string; ip_address: string | null; user_agent: string | null };
export type InstanceSettings = { settings: Record<string, Record<string, unknown>>; lock_version: number; updated_at: string; updated_by_user_id: string | null };

export type AuditEntry = {
  id: string;
  occurred_at: string;
  actor_type: string;
  actor_label: string | null;
  pool_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: string;
  ip_address: string | null;
  details: unknown;
};

export type Operator = {
  id: string;
  email: string;
  display_name: string | null;
  role: string;
  status: string;
  pool_ids: string[];
  password_change_required: boolean;
  totp_status: string;
  last_login_at: string | null;
  created_at: string;
};

export type OAuthFlow = {
  id: string;
  pool_id: string;
  kind: 'browser' | 'device';
  purpose: 'link' | 'relink';
  status: string;
  user_code: string | null;
  verification_url: string | null;
  interval_seconds: number | null;
  poll_after: string | null;
  expires_at: string;
  error_code: string | null;
};
export type Linked = { account: Account; created: boolean };
export type DevicePoll = ({ status: 'pending' } | ({ status: 'completed' } & Linked)) & { flow: OAuthFlow };

export type Invite = {
  id: string;
  pool_id: string;
  pool_slug: string;
  email: string;
  status: string;
  inviter: string | null;
  email_sent_at: string | null;
  expires_at: string;
  accepted_at: string | null;
  revoked_at: string | null;
  result_account_id: string | null;
  created_at: string;
};

/** The per-key Observatory (docs/admin-api.md › Observatory): one key over a window; costs in USD. */
export const OBSERVATORY_WINDOWS = ['1h', '5h', '24h', '7d'] as const;
export type ObservatoryWindow = (typeof OBSERVATORY_WINDOWS)[number];
export type ObservatoryMeasures = {
  requests: number;
  succeeded: number;
  failed: number;
  fresh_input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  cost_usd: number;
};
export type ObservatoryLimit = {
  scope: 'default' | 'model';
  model: string | null;
  field: 'max_requests_per_minute' | 'max_tokens_per_day' | 'max_tokens_per_week' | 'max_input_tokens_per_request' | 'max_output_tokens_per_request';
  max: number;
  /** Null for per-request caps (nothing accumulates). */
  used: number | null;
  remaining: number | null;
  resets_at: string | null;
};
export type KeyObservatory = {
  key: { id: string; prefix: string; label: string | null; status: string; pool_id: string };
  window: ObservatoryWindow;
  from: string;
  to: string;
  bucket_seconds: number;
  totals: ObservatoryMeasures & { success_rate: number | null; cache_rate: number | null; avg_latency_ms: number | null; tokens_per_second: number | null; unpriced_requests: number; priced: boolean };
  series: (ObservatoryMeasures & { start: string })[];
  models: (ObservatoryMeasures & { model: string | null; share: number })[];
  limits: ObservatoryLimit[];
  recent: { at: string; model: string | null; endpoint: string; status: string; status_code: number | null; latency_ms: number | null; total_tokens: number | null; cost_usd: number }[];
};
export const getKeyObservatory = (id: string, window: ObservatoryWindow) => get<KeyObservatory>(`/api-keys/${encodeURIComponent(id)}/observatory${query({ window })}`);
