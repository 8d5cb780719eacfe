import { sql } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import { jsonb, type Db } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { actorOf, authorize, type Scope } from '../operators/scope.ts';

const ms = (min: number, max: number) => z.number().int().min(min).max(max);
const url = z.string().trim().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL');

/**
 * The groups of spec §8.4 that this build reads or will read, with their defaults, plus the
 * retention group of §13. Each group is strict: an unknown key is an error, not silently kept.
 * Write-only secrets (SMTP password, metrics bearer) are not part of this document.
 */
const GROUPS = {
  gateway: z.object({
    gateway_debug: z.boolean().default(false),
    sse_keepalive_interval_ms: ms(1000, 120_000).default(10_000),
    websocket_idle_timeout_ms: ms(60_000, 3_600_000).default(1_800_000),
    upstream_connect_timeout_ms: ms(1000, 120_000).default(15_000),
    upstream_receive_timeout_ms: ms(1000, 3_600_000).default(300_000),
    circuit_failure_threshold: ms(1, 100).default(3),
    circuit_open_seconds: ms(1, 3600).default(60),
  }).strict(),
  ingress: z.object({
    firewall_allowlist: z.array(z.string().trim().min(1).max(64)).max(500).default([]),
    trusted_proxies: z.array(z.string().trim().min(1).max(64)).max(500).default([]),
    forwarded_client_ip_source: z.enum(['peer', 'x_forwarded_for', 'x_real_ip']).default('x_forwarded_for'),
    forwarded_proxy_depth: ms(0, 16).default(0),
  }).strict().refine((g) => g.forwarded_proxy_depth === 0 || g.forwarded_client_ip_source === 'x_forwarded_for', {
    message: 'forwarded_proxy_depth can only be non-zero with forwarded_client_ip_source x_forwarded_for',
    path: ['forwarded_proxy_depth'],
  }),
  // The upstream refuses files over 25 MiB (runtime spec §1.3): the upload limits can only be lowered.
  files: z.object({ max_size_bytes: ms(1, 26_214_400).default(26_214_400), upload_ttl_seconds: ms(60, 604_800).default(86_400) }).strict(),
  transcription: z.object({ max_upload_bytes: ms(1, 26_214_400).default(26_214_400) }).strict(),
  operator: z.object({ login_base_url: url.refine((v) => !v.replace(/\/+$/, '').endsWith('/login'), 'must not end in /login').transform((v) => v.replace(/\/+$/, '')).default('http://localhost') }).strict(),
  catalog: z.object({ openai_pricing_url: url.default('https://icoretech.github.io/openai-json-pricing/pricing.json') }).strict(),
  mcp: z.object({ enabled: z.boolean().default(false) }).strict(),
  smtp: z.object({
    enabled: z.boolean().default(false),
    host: z.string().trim().max(255).nullable().default(null),
    port: ms(1, 65_535).default(587),
    username: z.string().trim().max(255).nullable().default(null),
    from: z.string().trim().max(320).default('codex-pooler@example.com'),
    ssl: z.boolean().default(false),
    tls: z.enum(['always', 'if_available', 'never']).default('if_available'),
    retries: ms(0, 10).default(2),
  }).strict().refine((g) => !g.enabled || Boolean(g.host), { message: 'host is required when SMTP is enabled', path: ['host'] }),
  retention: z.object({
    request_logs_days: ms(1, 3650).default(30),
    audit_days: ms(1, 36_500).default(365),
    finished_oauth_flows_days: ms(1, 3650).default(7),
  }).strict(),
} as const;

type GroupName = keyof typeof GROUPS;
export type InstanceSettingsDocument = { [G in GroupName]: z.output<(typeof GROUPS)[G]> };
export type InstanceSettings = { settings: InstanceSettingsDocument; lock_version: number; updated_at: Date; updated_by_user_id: string | null };

const GROUP_NAMES = Object.keys(GROUPS) as GroupName[];
const UPDATE_INPUT = z.object({ lock_version: z.number().int().min(1), settings: z.record(z.string(), z.record(z.string(), z.unknown())) }).strict();

/** Stored values over defaults; a stored value that no longer validates falls back to its default. */
function resolve(stored: Record<string, unknown>): InstanceSettingsDocument {
  const out: Record<string, unknown> = {};
  for (const name of GROUP_NAMES) {
    const raw = stored[name] && typeof stored[name] === 'object' ? stored[name] : {};
    const parsed = GROUPS[name].safeParse(raw);
    out[name] = parsed.success ? parsed.data : GROUPS[name].parse({});
  }
  return out as InstanceSettingsDocument;
}

async function loadRow(db: Db) {
  await db.insertInto('instance_settings').values({ singleton: true, updated_by_user_id: null }).onConflict((oc) => oc.column('singleton').doNothing()).execute();
  return db.selectFrom('instance_settings').selectAll().executeTakeFirstOrThrow();
}

/** Every setting at its default (a fresh instance, and what a process applies before its first read). */
export const defaultInstanceSettings = (): InstanceSettingsDocument => resolve({});

/** The settings the running processes apply (no operator check: internal reads, never an API answer). */
export async function effectiveInstanceSettings(db: Db): Promise<InstanceSettingsDocument> {
  const row = await db.selectFrom('instance_settings').select('settings').executeTakeFirst();
  return resolve(row?.settings ?? {});
}

/** Owner only (spec §8.4); the row is created with defaults on first read. */
export async function getInstanceSettings(db: Db, scope: Scope): Promise<InstanceSettings> {
  authorize(scope, 'instance_settings.manage');
  const row = await loadRow(db);
  return { settings: resolve(row.settings), lock_version: row.lock_version, updated_at: row.updated_at, updated_by_user_id: row.updated_by_user_id };
}

/**
 * Saves changed groups with optimistic locking: a stale `lock_version` is `stale_settings`. Nothing
 * (no write, no audit) happens when no value changed; otherwise `instance_settings.update` lists the
 * changed `group.key` names, never values.
 */
export async function updateInstanceSettings(db: Db, scope: Scope, input: unknown): Promise<InstanceSettings> {
  authorize(scope, 'instance_settings.manage');
  const parsed = UPDATE_INPUT.safeParse(input ?? {});
  if (!parsed.success) throw invalidInput(parsed.error.issues[0]!.message, parsed.error.issues[0]!.path.join('.') || 'settings');
  const current = await getInstanceSettings(db, scope);
  if (parsed.data.lock_version !== current.lock_version) throw new PoolerError('stale_settings', undefined, { param: 'lock_version' });
  const next: Record<string, unknown> = { ...current.settings };
  const changedKeys: string[] = [];
  for (const [group, patch] of Object.entries(parsed.data.settings)) {
    if (!(GROUP_NAMES as string[]).includes(group)) throw invalidInput(`unknown settings group ${group}`, `settings.${group}`);
    const name = group as GroupName;
    const merged = GROUPS[name].safeParse({ ...current.settings[name], ...patch });
    if (!merged.success) {
      const issue = merged.error.issues[0]!;
      throw invalidInput(`${group}: ${issue.message}`, ['settings', group, ...issue.path.map(String)].join('.'));
    }
    for (const key of Object.keys(merged.data)) {
      const before = (current.settings[name] as Record<string, unknown>)[key];
      if (JSON.stringify(before) !== JSON.stringify((merged.data as Record<string, unknown>)[key])) changedKeys.push(`${group}.${key}`);
    }
    next[name] = merged.data;
  }
  if (changedKeys.length === 0) return current;
  const now = new Date();
  const saved = await db.transaction().execute(async (tx) => {
    const row = await tx
      .updateTable('instance_settings')
      // Merged into the stored document: write-only groups (the metrics bearer) are kept.
      .set({ settings: sql`settings || ${jsonb(next)}::jsonb`, lock_version: current.lock_version + 1, updated_by_user_id: scope.kind === 'operator' ? scope.userId : null, updated_at: now })
      .where('lock_version', '=', current.lock_version)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new PoolerError('stale_settings', undefined, { param: 'lock_version' });
    const changedCategories = [...new Set(changedKeys.map((key) => key.split('.')[0]!))];
    await recordAudit(tx, { actor: actorOf(scope), action: 'instance_settings.update', targetType: 'instance_settings', targetId: 'singleton', details: { changed_categories: changedCategories, changed_keys: changedKeys } });
    return row;
  });
  return { settings: resolve(saved.settings), lock_version: saved.lock_version, updated_at: saved.updated_at, updated_by_user_id: saved.updated_by_user_id };
}
