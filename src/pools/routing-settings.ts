import { z } from 'zod';
import { recordAudit, type Actor } from '../audit/index.ts';
import { API_KEY_CHANNEL, ROUTING_CHANNEL, type Db, type Notifier } from '../db/index.ts';
import { invalidInput } from '../errors.ts';
import type { RoutingStrategy } from './pool.table.ts';
import { findPool, type Pool } from './service.ts';

/**
 * A Pool's routing settings (control-plane spec §2.2), named as their columns: the admin API, the
 * CLI's `--json` and the audit details all use these names.
 */
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

export type PoolRoutingEdit = Partial<PoolRouting>;

export const ROUTING_STRATEGIES = ['bridge_ring', 'deterministic_rotation', 'least_recent_success', 'quota_first'] as const satisfies readonly RoutingStrategy[];

/** What a Pool without a settings row routes by (spec §2.2; acceptance 18). */
export const DEFAULT_POOL_ROUTING: Readonly<PoolRouting> = Object.freeze({
  routing_strategy: 'bridge_ring',
  bridge_ring_size: 3,
  sticky_websocket_sessions: true,
  sticky_http_sessions: false,
  prompt_cache_affinity_enabled: true,
  v1_compatibility_enabled: true,
  request_compression_enabled: false,
  allow_image_generation: true,
});

export const ROUTING_FIELDS = Object.keys(DEFAULT_POOL_ROUTING) as (keyof PoolRouting)[];

/** A ring larger than any real pool only hides typos; the column itself only demands ≥ 1. */
export const MAX_BRIDGE_RING_SIZE = 100;

const flag = (name: string) => z.boolean({ error: `${name} must be true or false` });

/** A partial edit: an absent field stays as it is; unknown fields are refused. */
export const ROUTING_EDIT_SCHEMA = z
  .object({
    routing_strategy: z.enum(ROUTING_STRATEGIES, { error: `routing_strategy must be one of ${ROUTING_STRATEGIES.join(', ')}` }),
    bridge_ring_size: z
      .number({ error: 'bridge_ring_size must be a whole number' })
      .int('bridge_ring_size must be a whole number')
      .min(1, 'bridge_ring_size must be at least 1')
      .max(MAX_BRIDGE_RING_SIZE, `bridge_ring_size must be at most ${MAX_BRIDGE_RING_SIZE}`),
    sticky_websocket_sessions: flag('sticky_websocket_sessions'),
    sticky_http_sessions: flag('sticky_http_sessions'),
    prompt_cache_affinity_enabled: flag('prompt_cache_affinity_enabled'),
    v1_compatibility_enabled: flag('v1_compatibility_enabled'),
    request_compression_enabled: flag('request_compression_enabled'),
    allow_image_generation: flag('allow_image_generation'),
  })
  .partial()
  .strict();

/**
 * Pure: validates an edit, or throws `invalid_request` naming the first bad field. Request
 * compression is refused when enabled: this gateway forwards request bodies as they came and has no
 * compression step, so storing `true` would promise something that never happens.
 */
export function parseRoutingEdit(raw: unknown): PoolRoutingEdit {
  const parsed = ROUTING_EDIT_SCHEMA.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const field = issue.keys[0]!;
      throw invalidInput(`${field} is not a routing setting; known settings: ${ROUTING_FIELDS.join(', ')}`, field);
    }
    const param = issue.path.map(String).join('.') || null;
    throw invalidInput(issue.message, param);
  }
  if (parsed.data.request_compression_enabled === true) {
    throw invalidInput('request_compression_enabled: request compression is not supported by this gateway', 'request_compression_enabled');
  }
  return parsed.data;
}

/** Pure: the settings after an edit, and which fields the edit actually changed. */
export function applyRoutingEdit(current: PoolRouting, edit: PoolRoutingEdit): { next: PoolRouting; changed: (keyof PoolRouting)[] } {
  const next = { ...current };
  const changed: (keyof PoolRouting)[] = [];
  for (const field of ROUTING_FIELDS) {
    const value = edit[field];
    if (value === undefined || value === current[field]) continue;
    (next as Record<keyof PoolRouting, unknown>)[field] = value;
    changed.push(field);
  }
  return { next, changed };
}

type RoutingRow = PoolRouting & { pool_id: string };

const toRouting = (row: RoutingRow | undefined): PoolRouting => {
  if (!row) return { ...DEFAULT_POOL_ROUTING };
  const routing = {} as Record<keyof PoolRouting, unknown>;
  for (const field of ROUTING_FIELDS) routing[field] = row[field];
  return routing as PoolRouting;
};

const ROUTING_COLUMNS = ['pool_id', ...ROUTING_FIELDS] as const;

/** Routing settings of one Pool by id; a Pool without a row routes by the defaults. */
export async function routingOfPool(db: Db, poolId: string): Promise<PoolRouting> {
  const row = await db.selectFrom('pool_routing_settings').select(ROUTING_COLUMNS).where('pool_id', '=', poolId).executeTakeFirst();
  return toRouting(row);
}

/** A Pool (by id or slug) with its routing settings. */
export async function getPoolRouting(db: Db, poolRef: string): Promise<{ pool: Pool; routing: PoolRouting }> {
  const pool = await findPool(db, poolRef);
  return { pool, routing: await routingOfPool(db, pool.id) };
}

export type RoutingUpdate = { pool: Pool; routing: PoolRouting; changed: (keyof PoolRouting)[] };

/**
 * Changes a Pool's routing settings (spec §6.1, `pool.routing_update`). Invalid input changes
 * nothing; an edit that changes no value writes and announces nothing. Every process drops its
 * cached view afterwards: routing snapshots (strategy, ring, stickiness, images) and the key cache,
 * which carries `/v1` compatibility.
 */
export async function updatePoolRouting(deps: { db: Db; notifier: Notifier }, actor: Actor, poolRef: string, rawEdit: unknown): Promise<RoutingUpdate> {
  const edit = parseRoutingEdit(rawEdit);
  const pool = await findPool(deps.db, poolRef);
  const result = await deps.db.transaction().execute(async (tx) => {
    // Locks the row (when there is one) so two concurrent edits each audit the values they replaced.
    const row = await tx.selectFrom('pool_routing_settings').select(ROUTING_COLUMNS).where('pool_id', '=', pool.id).forUpdate().executeTakeFirst();
    const previous = toRouting(row);
    const { next, changed } = applyRoutingEdit(previous, edit);
    if (changed.length === 0) return { routing: previous, changed };
    const now = new Date();
    await tx
      .insertInto('pool_routing_settings')
      .values({ pool_id: pool.id, ...next, updated_at: now })
      .onConflict((oc) => oc.column('pool_id').doUpdateSet({ ...next, updated_at: now }))
      .execute();
    await recordAudit(tx, {
      actor,
      action: 'pool.routing_update',
      poolId: pool.id,
      targetType: 'pool',
      targetId: pool.id,
      details: { changed_fields: changed, ...next, previous },
    });
    return { routing: next, changed };
  });
  if (result.changed.length > 0) {
    await deps.notifier.publish(ROUTING_CHANNEL, pool.id);
    await deps.notifier.publish(API_KEY_CHANNEL, '*');
  }
  return { pool, ...result };
}
