// Pure parsers turning upstream quota signals into window evidence
// (spec runtime §5.5, routing-deploy A10.1–A10.3, A10.7). No I/O, no clock: `now`
// only anchors relative resets. Malformed values never get clamped into range;
// the affected window is dropped instead, because wrong quota evidence routes
// traffic into a wall while missing evidence merely triggers a refresh.

export type QuotaWindowKind = 'primary' | 'secondary';
export type QuotaEvidenceSource =
  | 'codex_response_headers'
  | 'codex_rate_limit_event'
  | 'codex_rate_limit_error'
  | 'codex_usage_api';
export type QuotaPrecision = 'authoritative' | 'observed' | 'inferred';

export type QuotaWindowEvidence = {
  /** `account` for the codex limit, else the normalized limit id (lowercase `[a-z0-9_]`). */
  quotaKey: string;
  windowKind: QuotaWindowKind;
  windowMinutes: number;
  /** null only where the source makes it optional (error bodies); never clamped. */
  usedPercent: number | null;
  resetAt: Date | null;
  source: QuotaEvidenceSource;
  precision: QuotaPrecision;
  limitName: string | null;
};

export type UsageDocumentEvidence = {
  planType: string | null;
  windows: QuotaWindowEvidence[];
  allowed: boolean | null;
  limitReached: boolean | null;
  creditsBalance: number | null;
};

export const WEEKLY_WINDOW_MINUTES = 10_080;

/** Quota evidence older than this is stale: routing stops trusting it and the admin UI flags it (routing spec A10). */
export const QUOTA_FRESH_MS = 15 * 60_000;
const DEFAULT_PRIMARY_MINUTES = 300;
const DEFAULT_LIMIT_ID = 'codex';
const ACCOUNT_QUOTA_KEY = 'account';

export const RATE_LIMIT_REACHED_TYPES = [
  'rate_limit_reached',
  'workspace_owner_credits_depleted',
  'workspace_member_credits_depleted',
  'workspace_owner_usage_limit_reached',
  'workspace_member_usage_limit_reached',
] as const;
export type RateLimitReachedType = (typeof RATE_LIMIT_REACHED_TYPES)[number];

/** Error type/code values meaning "this account's usage allowance is spent until a reset". */
const USAGE_LIMIT_CODES = new Set([
  'usage_limit_reached',
  'workspace_owner_usage_limit_reached',
  'workspace_member_usage_limit_reached',
  'workspace_owner_credits_depleted',
  'workspace_member_credits_depleted',
]);

const EVENT_LIMIT_ID_KEYS = [
  'metered_limit_name',
  'metered_feature',
  'limit_id',
  'limit_name',
  'model',
  'model_id',
  'model_identifier',
];
// Error bodies often echo the requested `model`; only explicit limit ids attribute the error to a limit.
const ERROR_LIMIT_ID_KEYS = ['metered_limit_name', 'metered_feature', 'limit_id', 'limit_name'];

type JsonObject = Record<string, unknown>;
type HeaderBag = Record<string, string | string[] | undefined>;

// ---------------------------------------------------------------------------
// Scalar parsing

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Bodies may arrive as raw text; anything that is not a JSON object yields null. */
function asObject(value: unknown): JsonObject | null {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return isObject(value) ? value : null;
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** Finite number from a JSON number or a plain decimal string. */
function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return DECIMAL.test(trimmed) ? Number(trimmed) : null;
}

function nonBlank(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function firstDefined(obj: JsonObject, keys: readonly string[]): unknown {
  for (const key of keys) {
    if (obj[key] !== undefined && obj[key] !== null) return obj[key];
  }
  return undefined;
}

/** 0–100 inclusive; out-of-range is malformed, not clamped. */
function parsePercent(value: unknown): number | null {
  const n = toNumber(value);
  return n !== null && n >= 0 && n <= 100 ? n : null;
}

function parsePositiveInt(value: unknown): number | null {
  const n = toNumber(value);
  return n !== null && Number.isInteger(n) && n > 0 ? n : null;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Absolute reset: positive unix seconds (number or numeric string) or zoned ISO-8601. */
export function parseAbsoluteReset(value: unknown): Date | null {
  const seconds = toNumber(value);
  if (seconds !== null) return seconds > 0 ? validDate(seconds * 1000) : null;
  if (typeof value !== 'string' || !ISO_8601.test(value.trim())) return null;
  return validDate(Date.parse(value.trim()));
}

/** Relative reset: non-negative seconds from `now`. */
function parseRelativeReset(value: unknown, now: Date): Date | null {
  const seconds = toNumber(value);
  return seconds !== null && seconds >= 0 ? validDate(now.getTime() + seconds * 1000) : null;
}

function validDate(ms: number): Date | null {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Absolute fields win over relative ones; a present-but-malformed absolute falls through. */
function resetFrom(obj: JsonObject, absoluteKeys: readonly string[], relativeKeys: readonly string[], now: Date): Date | null {
  for (const key of absoluteKeys) {
    const date = parseAbsoluteReset(obj[key]);
    if (date !== null) return date;
  }
  for (const key of relativeKeys) {
    const date = parseRelativeReset(obj[key], now);
    if (date !== null) return date;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Limit ids and window assembly

/** Limit ids normalize to lowercase `[a-z0-9_]` (`-` and other separators → `_`). */
export function normalizeLimitId(raw: string): string {
  return raw.trim().toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

export function quotaKeyForLimit(limitId: string): string {
  return limitId === DEFAULT_LIMIT_ID ? ACCOUNT_QUOTA_KEY : limitId;
}

function limitIdFrom(obj: JsonObject, keys: readonly string[]): string {
  for (const key of keys) {
    const raw = nonBlank(obj[key]);
    if (raw !== null) {
      const id = normalizeLimitId(raw);
      if (id !== '') return id;
    }
  }
  return DEFAULT_LIMIT_ID;
}

/** A "primary" as long as a week is the weekly window whatever the upstream called it. */
function normalizeKind(kind: QuotaWindowKind, minutes: number): QuotaWindowKind {
  return kind === 'primary' && minutes === WEEKLY_WINDOW_MINUTES ? 'secondary' : kind;
}

/** Duplicate (key, kind) pairs keep the higher used percent (A10.1); null counts as lowest. */
function dedupe(windows: QuotaWindowEvidence[]): QuotaWindowEvidence[] {
  const byKey = new Map<string, QuotaWindowEvidence>();
  for (const window of windows) {
    const id = `${window.quotaKey}\u0000${window.windowKind}`;
    const existing = byKey.get(id);
    if (existing === undefined || (window.usedPercent ?? -1) > (existing.usedPercent ?? -1)) byKey.set(id, window);
  }
  return [...byKey.values()];
}

// ---------------------------------------------------------------------------
// Response headers

function headerValue(headers: HeaderBag, name: string): string | null {
  const raw = headers[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (typeof first === 'number') return String(first);
  return nonBlank(first);
}

function lowercaseHeaders(headers: HeaderBag): HeaderBag {
  const out: HeaderBag = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

const USED_PERCENT_HEADER = /^x-(.+)-(primary|secondary)-used-percent$/;

function headerWindow(
  headers: HeaderBag,
  prefix: string,
  kind: QuotaWindowKind,
  quotaKey: string,
  limitName: string | null,
  now: Date,
): QuotaWindowEvidence | null {
  const usedPercent = parsePercent(headerValue(headers, `${prefix}-${kind}-used-percent`));
  const windowMinutes = parsePositiveInt(headerValue(headers, `${prefix}-${kind}-window-minutes`));
  if (usedPercent === null || windowMinutes === null) return null;
  // `reset-after-seconds` is an older Codex header; accepted as a fallback for the same instant.
  const resetAt =
    parseAbsoluteReset(headerValue(headers, `${prefix}-${kind}-reset-at`)) ??
    parseRelativeReset(headerValue(headers, `${prefix}-${kind}-reset-after-seconds`), now);
  return {
    quotaKey,
    windowKind: normalizeKind(kind, windowMinutes),
    windowMinutes,
    usedPercent,
    resetAt,
    source: 'codex_response_headers',
    // Without a reset the window is not reset-bearing, so its reset is only inferred.
    precision: resetAt === null ? 'inferred' : 'observed',
    limitName,
  };
}

/** Windows from `x-<limit>-{primary,secondary}-*` headers (HTTP, websocket upgrade or frame maps). */
export function quotaFromHeaders(headers: HeaderBag, now: Date): QuotaWindowEvidence[] {
  const lower = lowercaseHeaders(headers);
  const prefixes = new Set<string>();
  for (const name of Object.keys(lower)) {
    const match = USED_PERCENT_HEADER.exec(name);
    if (match?.[1] !== undefined) prefixes.add(match[1]);
  }
  const windows: QuotaWindowEvidence[] = [];
  for (const rawId of prefixes) {
    const prefix = `x-${rawId}`;
    const quotaKey = quotaKeyForLimit(normalizeLimitId(rawId));
    const limitName = headerValue(lower, `${prefix}-limit-name`);
    for (const kind of ['primary', 'secondary'] as const) {
      const window = headerWindow(lower, prefix, kind, quotaKey, limitName, now);
      if (window !== null) windows.push(window);
    }
  }
  return dedupe(windows);
}

/** `x-codex-rate-limit-reached-type`, only when it is one of the documented values. */
export function rateLimitReachedType(headers: HeaderBag): RateLimitReachedType | null {
  const value = headerValue(lowercaseHeaders(headers), 'x-codex-rate-limit-reached-type')?.toLowerCase();
  return (RATE_LIMIT_REACHED_TYPES as readonly string[]).includes(value ?? '') ? (value as RateLimitReachedType) : null;
}

// ---------------------------------------------------------------------------
// `codex.rate_limits` events

function eventWindow(
  raw: unknown,
  kind: QuotaWindowKind,
  quotaKey: string,
  limitName: string | null,
  now: Date,
): QuotaWindowEvidence | null {
  if (!isObject(raw)) return null;
  const usedPercent = parsePercent(raw.used_percent);
  const windowMinutes = parsePositiveInt(raw.window_minutes);
  if (usedPercent === null || windowMinutes === null) return null;
  const resetAt = resetFrom(raw, ['reset_at', 'resets_at'], ['reset_after_seconds'], now);
  const windowKind = normalizeKind(kind, windowMinutes);
  // A weekly window without a reset cannot be told apart from a stale one; drop it.
  if (windowKind === 'secondary' && resetAt === null) return null;
  return {
    quotaKey,
    windowKind,
    windowMinutes,
    usedPercent,
    resetAt,
    source: 'codex_rate_limit_event',
    precision: resetAt === null ? 'inferred' : 'observed',
    limitName,
  };
}

/** Windows from a parsed `codex.rate_limits` event (JSON `type` or SSE `event:` name). */
export function quotaFromRateLimitEvent(event: unknown, now: Date): QuotaWindowEvidence[] {
  const obj = asObject(event);
  if (obj === null) return [];
  // The type may live only on the SSE `event:` line, so absence is fine; a different type is not.
  if (obj.type !== undefined && obj.type !== 'codex.rate_limits') return [];
  const limits = obj.rate_limits;
  if (!isObject(limits)) return [];
  const quotaKey = quotaKeyForLimit(limitIdFrom(obj, EVENT_LIMIT_ID_KEYS));
  const limitName = nonBlank(obj.limit_name);
  const windows: QuotaWindowEvidence[] = [];
  for (const kind of ['primary', 'secondary'] as const) {
    const window = eventWindow(limits[kind], kind, quotaKey, limitName, now);
    if (window !== null) windows.push(window);
  }
  return dedupe(windows);
}

// ---------------------------------------------------------------------------
// Non-2xx error bodies

function errorKind(obj: JsonObject): QuotaWindowKind {
  const raw = nonBlank(firstDefined(obj, ['window_kind', 'kind']))?.toLowerCase();
  return raw === 'secondary' || raw === 'weekly' ? 'secondary' : 'primary';
}

function errorWindow(obj: JsonObject, now: Date): QuotaWindowEvidence | null {
  const resetAt = resetFrom(obj, ['reset_at', 'resets_at'], ['reset_after_seconds', 'resets_in_seconds'], now);
  const windowMinutes = parsePositiveInt(firstDefined(obj, ['window_minutes', 'limit_window_minutes']));
  if (resetAt === null || windowMinutes === null) return null;
  const rawPercent = firstDefined(obj, ['used_percent', 'usage_percent']);
  const usedPercent = rawPercent === undefined ? null : parsePercent(rawPercent);
  if (rawPercent !== undefined && usedPercent === null) return null;
  return {
    quotaKey: quotaKeyForLimit(limitIdFrom(obj, ERROR_LIMIT_ID_KEYS)),
    windowKind: normalizeKind(errorKind(obj), windowMinutes),
    windowMinutes,
    usedPercent,
    resetAt,
    source: 'codex_rate_limit_error',
    precision: 'observed',
    limitName: nonBlank(obj.limit_name),
  };
}

/** Windows from a non-2xx body (object or raw JSON text): the top level and its `error`. */
export function quotaFromErrorBody(body: unknown, now: Date): QuotaWindowEvidence[] {
  const top = asObject(body);
  if (top === null) return [];
  const windows: QuotaWindowEvidence[] = [];
  for (const candidate of [top, top.error]) {
    if (!isObject(candidate)) continue;
    const window = errorWindow(candidate, now);
    if (window !== null) windows.push(window);
  }
  return dedupe(windows);
}

function isUsageLimitError(top: JsonObject): boolean {
  const error = isObject(top.error) ? top.error : {};
  return [error.type, error.code, top.type, top.code].some(
    (value) => typeof value === 'string' && USAGE_LIMIT_CODES.has(value.trim().toLowerCase()),
  );
}

/**
 * When a 429 says the account's usage limit is reached, the instant it resets: from the
 * body first, else the latest reset among exhausted header windows. Past resets return
 * null since they cannot hold anything back.
 */
export function usageLimitResetAt(status: number, body: unknown, headers: HeaderBag, now: Date): Date | null {
  if (status !== 429) return null;
  const top = asObject(body);
  if (top === null || !isUsageLimitError(top)) return null;
  const future = (date: Date | null): Date | null => (date !== null && date.getTime() > now.getTime() ? date : null);

  for (const candidate of [top.error, top]) {
    if (!isObject(candidate)) continue;
    const reset = future(resetFrom(candidate, ['resets_at', 'reset_at'], ['resets_in_seconds', 'reset_after_seconds'], now));
    if (reset !== null) return reset;
  }
  let latest: Date | null = null;
  for (const window of quotaFromHeaders(headers, now)) {
    if ((window.usedPercent ?? 0) < 100) continue;
    const reset = future(window.resetAt);
    if (reset !== null && (latest === null || reset > latest)) latest = reset;
  }
  return latest;
}

// ---------------------------------------------------------------------------
// Usage API document

function usageWindow(
  raw: unknown,
  kind: QuotaWindowKind,
  quotaKey: string,
  limitName: string | null,
  now: Date,
): QuotaWindowEvidence | null {
  if (!isObject(raw)) return null;
  const usedPercent = parsePercent(raw.used_percent);
  if (usedPercent === null) return null;
  let windowMinutes = kind === 'primary' ? DEFAULT_PRIMARY_MINUTES : WEEKLY_WINDOW_MINUTES;
  if (raw.limit_window_seconds !== undefined && raw.limit_window_seconds !== null) {
    const seconds = toNumber(raw.limit_window_seconds);
    if (seconds === null || seconds <= 0) return null;
    windowMinutes = Math.ceil(seconds / 60);
  }
  const resetAt = resetFrom(raw, ['reset_at', 'resets_at'], ['reset_after_seconds'], now);
  const windowKind = normalizeKind(kind, windowMinutes);
  if (windowKind === 'secondary' && resetAt === null) return null;
  return {
    quotaKey,
    windowKind,
    windowMinutes,
    usedPercent,
    resetAt,
    source: 'codex_usage_api',
    precision: 'authoritative',
    limitName,
  };
}

function rateLimitWindows(rateLimit: unknown, quotaKey: string, limitName: string | null, now: Date): QuotaWindowEvidence[] {
  if (!isObject(rateLimit)) return [];
  const windows: QuotaWindowEvidence[] = [];
  const primary = usageWindow(rateLimit.primary_window ?? rateLimit.primary, 'primary', quotaKey, limitName, now);
  const secondary = usageWindow(rateLimit.secondary_window ?? rateLimit.secondary, 'secondary', quotaKey, limitName, now);
  if (primary !== null) windows.push(primary);
  if (secondary !== null) windows.push(secondary);
  return windows;
}

function optionalBoolean(value: unknown): boolean | null {
  return typeof value === 'boolean' ? value : null;
}

/** The `/wham/usage` (or `/codex/usage`) payload: plan, account windows and additional limits. */
export function quotaFromUsageDocument(doc: unknown, now: Date): UsageDocumentEvidence {
  const obj = asObject(doc);
  if (obj === null) return { planType: null, windows: [], allowed: null, limitReached: null, creditsBalance: null };
  const rateLimit = isObject(obj.rate_limit) ? obj.rate_limit : {};
  const windows = rateLimitWindows(rateLimit, ACCOUNT_QUOTA_KEY, null, now);
  const additional = Array.isArray(obj.additional_rate_limits) ? obj.additional_rate_limits : [];
  for (const entry of additional) {
    if (!isObject(entry)) continue;
    const quotaKey = quotaKeyForLimit(limitIdFrom(entry, EVENT_LIMIT_ID_KEYS));
    windows.push(...rateLimitWindows(entry.rate_limit, quotaKey, nonBlank(entry.limit_name), now));
  }
  const credits = isObject(obj.credits) ? obj.credits : {};
  const balance = toNumber(credits.balance);
  return {
    planType: nonBlank(obj.plan_type),
    windows: dedupe(windows),
    allowed: optionalBoolean(rateLimit.allowed),
    limitReached: optionalBoolean(rateLimit.limit_reached),
    creditsBalance: balance !== null && balance >= 0 ? balance : null,
  };
}
