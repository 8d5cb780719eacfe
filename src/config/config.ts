import { z } from 'zod';
import { createKeyring, parseKeyMaterial, ConfigKeyError, type Keyring } from '../crypto/index.ts';

/** A configuration problem: the process prints one line naming the variable and exits 1. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export type ProcessMode = 'web' | 'worker' | 'scheduler' | 'all';

export type DatabaseConfig =
  | { kind: 'postgres'; url: string; poolSize: number; ipv6: boolean }
  | { kind: 'embedded'; directory: string };

export type Config = {
  port: number;
  bindHost: string;
  publicHost: string;
  dataDir: string;
  database: DatabaseConfig;
  secretKeyBase: string;
  upstreamKeyring: Keyring;
  totpKeyring: Keyring;
  upstreamBaseUrl: string;
  authIssuer: string;
  pricingFeedUrl: string | null;
  obanMode: ProcessMode;
  phxServer: boolean;
  jobsQueueLimit: number;
  shutdownGraceMs: number;
  drainTimeoutMs: number;
  drainMarkerPath: string | null;
  ownerForwarding: boolean;
  /** Websocket timeouts (runtime spec §6.2) and the internal owner-forwarding listener (routing spec B6, Part D). */
  websocket: { idleTimeoutMs: number; ownerIdleTimeoutMs: number; peerPort: number; peerBindHost: string; peerAdvertiseHost: string };
  clusterQuery: string | null;
  podName: string | null;
  podIp: string | null;
  forceHttps: boolean;
  logLevel: string;
  /** Upstream timeouts: connect, first byte (headers), idle gap between body chunks. */
  upstreamTimeouts: { connectMs: number; firstByteMs: number; idleMs: number };
  maxRequestBodyBytes: number;
  /** Memory budget for output items kept for `/v1/responses` `item_reference` replays; 0 keeps none. */
  replayItemCacheBytes: number;
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | null;
  /** Per route class bulkhead overrides, e.g. {"proxy_stream":{"max_concurrency":64}}. */
  /** Circuit breaker: consecutive failures that open it, and how long it stays open before a probe. */
  circuit: { failureThreshold: number; openMs: number };
  admissionLimits: Record<string, { max_concurrency?: number; queue_limit?: number; queue_timeout_ms?: number }>;
};

/** Secret values the embedded mode generated or loaded from the data directory. */
export type EmbeddedSecrets = {
  SECRET_KEY_BASE: string;
  CODEX_POOLER_UPSTREAM_SECRET_KEY: string;
  CODEX_POOLER_TOTP_ENCRYPTION_KEY: string;
};

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };

function parseBooleanWord(variable: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = BOOLEAN_WORDS[raw.trim().toLowerCase()];
  if (value === undefined) throw new ConfigError(variable, 'must be one of true,false,1,0,yes,no,on,off');
  return value;
}

function parseInteger(variable: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const parsed = z.coerce.number().int().min(min).max(max).safeParse(raw.trim());
  if (!parsed.success) throw new ConfigError(variable, `must be an integer between ${min} and ${max}`);
  return parsed.data;
}

/** A duration clamped into [min, max] (runtime spec §6.2); unset or not a number ⇒ the default. */
function clampedMs(raw: string | undefined, fallback: number, min: number, max: number): number {
  const value = Number(raw?.trim());
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

function parseHttpUrl(variable: string, raw: string | undefined, fallback: string): string {
  const value = raw?.trim() || fallback;
  const parsed = z.url({ protocol: /^https?$/ }).safeParse(value);
  if (!parsed.success) throw new ConfigError(variable, 'must be an absolute http(s) URL');
  return value.replace(/\/+$/, '');
}

function parseDatabaseUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error('protocol');
    return raw;
  } catch {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
}

function requireSecret(env: NodeJS.ProcessEnv, embedded: EmbeddedSecrets | null, variable: keyof EmbeddedSecrets): string {
  const value = env[variable];
  if (value !== undefined && value !== '') return value;
  if (embedded) return embedded[variable];
  throw new ConfigError(variable, 'is required when DATABASE_URL is set');
}

function keyFrom(variable: string, value: string): Buffer {
  try {
    return parseKeyMaterial(variable, value);
  } catch (error) {
    if (error instanceof ConfigKeyError) throw new ConfigError(variable, 'must be 32 raw bytes or base64-encoded 32 bytes');
    throw error;
  }
}

function keyringFrom(current: { version: string; key: Buffer; versionEnvName: string }, previous: string | undefined, previousEnvName: string): Keyring {
  try {
    return createKeyring(current, previous, previousEnvName);
  } catch (error) {
    if (error instanceof ConfigKeyError) throw new ConfigError(error.variable, error.message.replace(`${error.variable} `, ''));
    throw error;
  }
}

/**
 * Parses the whole process configuration from the environment. `embeddedSecrets` is supplied only in
 * embedded mode (no DATABASE_URL): explicit env values still win over the generated ones.
 */
export function parseConfig(env: NodeJS.ProcessEnv, options: { embeddedSecrets?: EmbeddedSecrets | null; cwd?: string } = {}): Config {
  const dataDir = resolveDataDir(env, options.cwd);
  const databaseUrl = env.DATABASE_URL?.trim();
  const embedded = databaseUrl ? null : (options.embeddedSecrets ?? null);

  const secretKeyBase = requireSecret(env, embedded, 'SECRET_KEY_BASE');
  if (secretKeyBase.length < 64) throw new ConfigError('SECRET_KEY_BASE', 'must be at least 64 characters');

  const upstreamVersion = env.CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION?.trim() || 'v1';
  const upstreamKeyring = keyringFrom(
    {
      version: upstreamVersion,
      key: keyFrom('CODEX_POOLER_UPSTREAM_SECRET_KEY', requireSecret(env, embedded, 'CODEX_POOLER_UPSTREAM_SECRET_KEY')),
      versionEnvName: 'CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION',
    },
    env.CODEX_POOLER_UPSTREAM_SECRET_KEYS_PREVIOUS,
    'CODEX_POOLER_UPSTREAM_SECRET_KEYS_PREVIOUS',
  );
  const totpVersion = env.CODEX_POOLER_TOTP_KEY_VERSION?.trim() || 'v1';
  const totpKeyring = keyringFrom(
    {
      version: totpVersion,
      key: keyFrom('CODEX_POOLER_TOTP_ENCRYPTION_KEY', requireSecret(env, embedded, 'CODEX_POOLER_TOTP_ENCRYPTION_KEY')),
      versionEnvName: 'CODEX_POOLER_TOTP_KEY_VERSION',
    },
    env.CODEX_POOLER_TOTP_KEYS_PREVIOUS,
    'CODEX_POOLER_TOTP_KEYS_PREVIOUS',
  );

  const obanModeRaw = (env.OBAN_MODE ?? '').trim().toLowerCase();
  // Unknown OBAN_MODE means web, as the chart's original contract says.
  const obanMode: ProcessMode = obanModeRaw === 'worker' || obanModeRaw === 'scheduler' || obanModeRaw === 'all' ? obanModeRaw : 'web';
  const drainTimeout = Number(env.CODEX_POOLER_WEBSOCKET_DRAIN_TIMEOUT_MS);

  return {
    port: parseInteger('PORT', env.PORT, 4000, 0, 65535),
    bindHost: env.CODEX_POOLER_BIND_HOST?.trim() || (env.ECTO_IPV6 === 'true' ? '::' : '0.0.0.0'),
    publicHost: env.PHX_HOST?.trim() || 'localhost',
    dataDir,
    database: databaseUrl
      ? {
          kind: 'postgres',
          url: parseDatabaseUrl(databaseUrl),
          poolSize: parseInteger('POOL_SIZE', env.POOL_SIZE, 10, 1, 500),
          ipv6: parseBooleanWord('ECTO_IPV6', env.ECTO_IPV6, false),
        }
      : { kind: 'embedded', directory: `${dataDir}/pgdata` },
    secretKeyBase,
    upstreamKeyring,
    totpKeyring,
    upstreamBaseUrl: parseHttpUrl('CODEX_POOLER_UPSTREAM_BASE_URL', env.CODEX_POOLER_UPSTREAM_BASE_URL, 'https://chatgpt.com'),
    authIssuer: parseHttpUrl('CODEX_POOLER_AUTH_ISSUER', env.CODEX_POOLER_AUTH_ISSUER, 'https://auth.openai.com'),
    pricingFeedUrl: env.CODEX_POOLER_PRICING_URL?.trim() ? parseHttpUrl('CODEX_POOLER_PRICING_URL', env.CODEX_POOLER_PRICING_URL, '') : null,
    obanMode,
    phxServer: parseBooleanWord('PHX_SERVER', env.PHX_SERVER, false),
    jobsQueueLimit: parseInteger('OBAN_JOBS_QUEUE_LIMIT', env.OBAN_JOBS_QUEUE_LIMIT, 8, 1, 256),
    shutdownGraceMs: parseInteger('OBAN_SHUTDOWN_GRACE_PERIOD_MS', env.OBAN_SHUTDOWN_GRACE_PERIOD_MS, 55_000, 0, 600_000),
    // Invalid or non-positive values fall back to the default, per the deployment spec.
    drainTimeoutMs: Number.isInteger(drainTimeout) && drainTimeout > 0 ? drainTimeout : 50_000,
    drainMarkerPath: env.CODEX_POOLER_DRAIN_MARKER_PATH?.trim() || null,
    ownerForwarding: parseBooleanWord('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING', env.CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING, false),
    clusterQuery: env.DNS_CLUSTER_QUERY?.trim() || null,
    websocket: {
      idleTimeoutMs: clampedMs(env.CODEX_POOLER_WEBSOCKET_IDLE_TIMEOUT_MS, 1_800_000, 60_000, 3_600_000),
      ownerIdleTimeoutMs: clampedMs(env.CODEX_POOLER_WEBSOCKET_OWNER_IDLE_TIMEOUT_MS, 1_800_000, 60_000, 3_600_000),
      peerPort: parseInteger('CODEX_POOLER_PEER_PORT', env.CODEX_POOLER_PEER_PORT, 9000, 0, 65535),
      peerBindHost: env.CODEX_POOLER_PEER_BIND_HOST?.trim() || (env.ECTO_IPV6 === 'true' ? '::' : '0.0.0.0'),
      // Other replicas dial this address: the pod IP in Kubernetes, loopback for a single host.
      peerAdvertiseHost: env.CODEX_POOLER_PEER_ADVERTISE_HOST?.trim() || env.POD_IP?.trim() || '127.0.0.1',
    },
    podName: env.POD_NAME?.trim() || null,
    podIp: env.POD_IP?.trim() || null,
    forceHttps: parseBooleanWord('CODEX_POOLER_FORCE_HTTPS', env.CODEX_POOLER_FORCE_HTTPS, false),
    logLevel: env.LOG_LEVEL?.trim() || 'info',
    upstreamTimeouts: {
      connectMs: parseInteger('CODEX_POOLER_UPSTREAM_CONNECT_TIMEOUT_MS', env.CODEX_POOLER_UPSTREAM_CONNECT_TIMEOUT_MS, 15_000, 100, 600_000),
      firstByteMs: parseInteger('CODEX_POOLER_UPSTREAM_FIRST_BYTE_TIMEOUT_MS', env.CODEX_POOLER_UPSTREAM_FIRST_BYTE_TIMEOUT_MS, 300_000, 100, 3_600_000),
      idleMs: parseInteger('CODEX_POOLER_UPSTREAM_IDLE_TIMEOUT_MS', env.CODEX_POOLER_UPSTREAM_IDLE_TIMEOUT_MS, 300_000, 100, 3_600_000),
    },
    metricsToken: env.CODEX_POOLER_METRICS_TOKEN?.trim() || null,
    circuit: {
      failureThreshold: parseInteger('CODEX_POOLER_CIRCUIT_FAILURE_THRESHOLD', env.CODEX_POOLER_CIRCUIT_FAILURE_THRESHOLD, 3, 1, 1000),
      openMs: parseInteger('CODEX_POOLER_CIRCUIT_OPEN_SECONDS', env.CODEX_POOLER_CIRCUIT_OPEN_SECONDS, 60, 1, 86_400) * 1000,
    },
    admissionLimits: parseAdmissionLimits(env.CODEX_POOLER_ADMISSION_LIMITS),
    maxRequestBodyBytes: parseInteger('CODEX_POOLER_MAX_BODY_BYTES', env.CODEX_POOLER_MAX_BODY_BYTES, 32 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    replayItemCacheBytes: parseInteger('CODEX_POOLER_REPLAY_ITEM_CACHE_MB', env.CODEX_POOLER_REPLAY_ITEM_CACHE_MB, 64, 0, 65_536) * 1024 * 1024,
  };
}

const ROUTE_CLASSES = ['proxy_http', 'proxy_control', 'proxy_stream', 'proxy_websocket', 'proxy_compact', 'file_upload', 'audio_transcription', 'admin_browser', 'mcp'] as const;
const ADMISSION_SCHEMA = z.partialRecord(
  z.enum(ROUTE_CLASSES),
  z.strictObject({ max_concurrency: z.number().int().positive().optional(), queue_limit: z.number().int().min(0).optional(), queue_timeout_ms: z.number().int().positive().optional() }),
);

function parseAdmissionLimits(raw: string | undefined): Config['admissionLimits'] {
  if (!raw?.trim()) return {};
  try {
    const parsed = ADMISSION_SCHEMA.safeParse(JSON.parse(raw));
    if (parsed.success) return parsed.data as Config['admissionLimits'];
  } catch {
    // falls through to the error below
  }
  throw new ConfigError('CODEX_POOLER_ADMISSION_LIMITS', `must be JSON like {"proxy_stream":{"max_concurrency":24,"queue_limit":96,"queue_timeout_ms":10000}} with route classes ${ROUTE_CLASSES.join(', ')}`);
}

export function resolveDataDir(env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  const raw = env.CODEX_POOLER_DATA_DIR?.trim() || 'data';
  return raw.startsWith('/') ? raw : `${cwd}/${raw}`;
}
