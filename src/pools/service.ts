import { sql } from 'kysely';
import { z } from 'zod';
import { recordAudit, type Actor } from '../audit/index.ts';
import { API_KEY_CHANNEL, isUuid, ROUTING_CHANNEL, type Db, type Notifier } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import type { PoolRow, PoolStatus } from './pool.table.ts';

export type Pool = { id: string; slug: string; name: string; status: PoolStatus; createdAt: Date };
export type PoolSummary = Pool & { accountCount: number; keyCount: number };

const SLUG_PATTERN = /^[a-z0-9]+(?:[a-z0-9-]*[a-z0-9])?$/;
const NAME_SCHEMA = z.string().trim().min(1, 'pool name must not be blank').max(160, 'pool name must be at most 160 characters');

/** Slug from a name: lowercased, runs of anything but a-z0-9 become `-`, edges trimmed. */
export function slugFromName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

const toPool = (row: PoolRow): Pool => ({ id: row.id, slug: row.slug, name: row.name, status: row.status, createdAt: row.created_at });

function parseName(raw: unknown): string {
  const parsed = NAME_SCHEMA.safeParse(raw);
  if (!parsed.success) throw invalidInput(parsed.error.issues[0]!.message, 'name');
  return parsed.data;
}

/** Finds a pool by id or slug (the CLI and API accept either). */
export async function findPool(db: Db, ref: string): Promise<Pool> {
  const trimmed = ref.trim();
  let query = db.selectFrom('pools').selectAll();
  query = isUuid(trimmed) ? query.where('id', '=', trimmed) : query.where(sql`lower(slug)`, '=', slugFromName(trimmed));
  const row = await query.executeTakeFirst();
  if (!row) throw new PoolerError('not_found', `pool ${JSON.stringify(trimmed)} does not exist`, { param: 'pool' });
  return toPool(row);
}

export async function createPool(db: Db, actor: Actor, input: { name: unknown; slug?: unknown }): Promise<Pool> {
  const name = parseName(input.name);
  const slug = typeof input.slug === 'string' && input.slug.trim() ? input.slug.trim().toLowerCase() : slugFromName(name);
  if (!SLUG_PATTERN.test(slug)) throw invalidInput('pool slug must use a-z, 0-9 and inner dashes', 'slug');
  return db.transaction().execute(async (tx) => {
    const existing = await tx.selectFrom('pools').select('id').where(sql`lower(slug)`, '=', slug).executeTakeFirst();
    if (existing) throw new PoolerError('conflict', `a pool with slug ${slug} already exists`, { param: 'name' });
    const row = await tx.insertInto('pools').values({ slug, name, created_by_user_id: actor.type === 'user' ? actor.userId : null, disabled_at: null }).returningAll().executeTakeFirstOrThrow();
    await tx.insertInto('pool_routing_settings').values({ pool_id: row.id }).execute();
    await recordAudit(tx, { actor, action: 'pool.create', poolId: row.id, targetType: 'pool', targetId: row.id, details: { name, slug } });
    return toPool(row);
  });
}

export async function renamePool(db: Db, actor: Actor, ref: string, newName: unknown): Promise<Pool> {
  const pool = await findPool(db, ref);
  const name = parseName(newName);
  return db.transaction().execute(async (tx) => {
    const row = await tx.updateTable('pools').set({ name, updated_at: new Date() }).where('id', '=', pool.id).returningAll().executeTakeFirstOrThrow();
    await recordAudit(tx, { actor, action: 'pool.update', poolId: pool.id, targetType: 'pool', targetId: pool.id, details: { changed_fields: ['name'], previous_name: pool.name, name } });
    return toPool(row);
  });
}

export async function listPools(db: Db): Promise<PoolSummary[]> {
  const rows = await db
    .selectFrom('pools')
    .selectAll('pools')
    .select((eb) => [
      eb.selectFrom('pool_upstream_assignments').whereRef('pool_upstream_assignments.pool_id', '=', 'pools.id').where('status', '<>', 'deleted').select(eb.fn.countAll<number>().as('n')).as('account_count'),
      eb.selectFrom('api_keys').whereRef('api_keys.pool_id', '=', 'pools.id').where('status', '<>', 'revoked').select(eb.fn.countAll<number>().as('n')).as('key_count'),
    ])
    .orderBy('pools.slug')
    .execute();
  return rows.map((row) => ({ ...toPool(row), accountCount: Number(row.account_count ?? 0), keyCount: Number(row.key_count ?? 0) }));
}

/** Deletes a pool. Refused while it still holds accounts or live keys, unless forced. */
export async function deletePool(db: Db, actor: Actor, ref: string, options: { force?: boolean } = {}): Promise<Pool> {
  const pool = await findPool(db, ref);
  return db.transaction().execute(async (tx) => {
    const accounts = await tx.selectFrom('pool_upstream_assignments').select(tx.fn.countAll<number>().as('n')).where('pool_id', '=', pool.id).where('status', '<>', 'deleted').executeTakeFirstOrThrow();
    const keys = await tx.selectFrom('api_keys').select(tx.fn.countAll<number>().as('n')).where('pool_id', '=', pool.id).where('status', '<>', 'revoked').executeTakeFirstOrThrow();
    const accountCount = Number(accounts.n);
    const keyCount = Number(keys.n);
    if (!options.force && (accountCount > 0 || keyCount > 0)) {
      throw new PoolerError('conflict', `pool ${pool.slug} still has ${accountCount} account(s) and ${keyCount} active key(s); remove them first or delete with --force`);
    }
    await recordAudit(tx, { actor, action: 'pool.delete', poolId: pool.id, targetType: 'pool', targetId: pool.id, details: { slug: pool.slug, forced: Boolean(options.force), account_count: accountCount, key_count: keyCount } });
    await tx.deleteFrom('pools').where('id', '=', pool.id).execute();
    return pool;
  });
}

/**
 * Changes a Pool's status (spec §6.1, `pool.status_update`). Archiving revokes the admins' Pool
 * assignments. Keys of a Pool that is not active stop authenticating at once (caches are told).
 */
export async function setPoolStatus(deps: { db: Db; notifier: Notifier }, actor: Actor, ref: string, status: PoolStatus): Promise<Pool> {
  const pool = await findPool(deps.db, ref);
  if (pool.status === status) return pool;
  const now = new Date();
  const updated = await deps.db.transaction().execute(async (tx) => {
    const row = await tx.updateTable('pools').set({ status, disabled_at: status === 'active' ? null : now, updated_at: now }).where('id', '=', pool.id).returningAll().executeTakeFirstOrThrow();
    let revokedAssignments = 0;
    if (status === 'archived') {
      const result = await tx.updateTable('operator_pool_assignments').set({ status: 'revoked', revoked_at: now, updated_at: now }).where('pool_id', '=', pool.id).where('status', '=', 'active').executeTakeFirst();
      revokedAssignments = Number(result.numUpdatedRows);
    }
    await recordAudit(tx, { actor, action: 'pool.status_update', poolId: pool.id, targetType: 'pool', targetId: pool.id, details: { previous_status: pool.status, new_status: status, revoked_operator_assignments: revokedAssignments } });
    return row;
  });
  // Channel names of api-keys (API_KEY_CHANNEL) and upstreams (ROUTING_CHANNEL); both import this module.
  await deps.notifier.publish(API_KEY_CHANNEL, '*');
  await deps.notifier.publish(ROUTING_CHANNEL, pool.id);
  return toPool(updated);
}
