import { sql } from 'kysely';
import { isUuid, type Db, type Tx } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import type { OperatorRole } from './operator.table.ts';
import { authorize, type Scope } from './scope.ts';


/** An operator as the owner sees it. Never the password hash, TOTP secret or recovery codes. */
export type OperatorView = {
  id: string;
  email: string;
  display_name: string | null;
  role: OperatorRole | null;
  status: 'active' | 'disabled';
  pool_ids: string[];
  password_change_required: boolean;
  totp_status: 'disabled' | 'pending' | 'active';
  last_login_at: Date | null;
  locked_until: Date | null;
  created_at: Date;
};

function operatorsQuery(db: Db | Tx) {
  return db
    .selectFrom('users as u')
    .leftJoin('memberships as m', (join) => join.onRef('m.user_id', '=', 'u.id').on('m.status', '=', 'active'))
    .leftJoin('totp_settings as t', 't.user_id', 'u.id')
    .select(['u.id', 'u.email', 'u.display_name', 'u.status', 'u.password_change_required', 'u.last_login_at', 'u.locked_until', 'u.created_at', 'm.role', 't.status as totp_status'])
    .select((eb) =>
      eb
        .selectFrom('operator_pool_assignments as a')
        .select(sql<string[]>`coalesce(array_agg(a.pool_id::text ORDER BY a.created_at), '{}')`.as('ids'))
        .whereRef('a.user_id', '=', 'u.id')
        .where('a.status', '=', 'active')
        .as('pool_ids'),
    )
    .where('u.deleted_at', 'is', null);
}

type OperatorRow = Awaited<ReturnType<ReturnType<typeof operatorsQuery>['execute']>>[number];

const toView = (row: OperatorRow): OperatorView => ({
  id: row.id,
  email: row.email,
  display_name: row.display_name,
  role: row.role ?? null,
  status: row.status,
  pool_ids: row.role === 'instance_admin' ? (row.pool_ids ?? []) : [],
  password_change_required: row.password_change_required,
  totp_status: row.totp_status ?? 'disabled',
  last_login_at: row.last_login_at,
  locked_until: row.locked_until && row.locked_until > new Date() ? row.locked_until : null,
  created_at: row.created_at,
});

export async function listOperators(db: Db, scope: Scope, filter: { status?: 'active' | 'disabled'; query?: string } = {}): Promise<OperatorView[]> {
  authorize(scope, 'operator.manage');
  let query = operatorsQuery(db).orderBy('u.created_at');
  if (filter.status) query = query.where('u.status', '=', filter.status);
  if (filter.query?.trim()) {
    const like = `%${filter.query.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) => eb.or([eb(sql`lower(u.email)`, 'like', like), eb(sql`lower(coalesce(u.display_name, ''))`, 'like', like)]));
  }
  return (await query.execute()).map(toView);
}

export async function getOperator(db: Db | Tx, scope: Scope, id: string): Promise<OperatorView> {
  authorize(scope, 'operator.manage');
  if (!isUuid(id)) throw new PoolerError('not_found', 'operator does not exist', { param: 'id' });
  const row = await operatorsQuery(db).where('u.id', '=', id).executeTakeFirst();
  if (!row) throw new PoolerError('not_found', 'operator does not exist', { param: 'id' });
  return toView(row);
}

/**
 * Serializes changes to owners and refuses one that would leave the instance without an active
 * owner (`last_active_owner`). Call inside the transaction making the change.
 */
export async function assertAnotherActiveOwner(tx: Tx, userId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('codex_pooler.instance_owners'))`.execute(tx);
  const isOwner = await tx.selectFrom('memberships').select('id').where('user_id', '=', userId).where('role', '=', 'instance_owner').where('status', '=', 'active').executeTakeFirst();
  if (!isOwner) return;
  const others = await tx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(tx.fn.countAll<string>().as('n'))
    .where('m.role', '=', 'instance_owner')
    .where('m.status', '=', 'active')
    .where('u.status', '=', 'active')
    .where('u.deleted_at', 'is', null)
    .where('u.id', '<>', userId)
    .executeTakeFirstOrThrow();
  if (Number(others.n) === 0) throw new PoolerError('last_active_owner', 'this is the only active instance owner; make another operator owner first');
}

/** Makes an admin's active Pool assignments exactly `poolIds`; answers whether anything changed. */
export async function syncPoolAssignments(tx: Tx, userId: string, poolIds: readonly string[], byUserId: string | null, now: Date): Promise<boolean> {
  const wanted = new Set(poolIds);
  const current = await tx.selectFrom('operator_pool_assignments').select(['id', 'pool_id']).where('user_id', '=', userId).where('status', '=', 'active').execute();
  const stale = current.filter((row) => !wanted.has(row.pool_id)).map((row) => row.id);
  if (stale.length) await tx.updateTable('operator_pool_assignments').set({ status: 'revoked', revoked_at: now, updated_at: now }).where('id', 'in', stale).execute();
  const have = new Set(current.map((row) => row.pool_id));
  const added = [...wanted].filter((id) => !have.has(id));
  if (added.length) await tx.insertInto('operator_pool_assignments').values(added.map((pool_id) => ({ user_id: userId, pool_id, created_by_user_id: byUserId, revoked_at: null }))).execute();
  return stale.length > 0 || added.length > 0;
}

/** Pool ids given for an admin must all exist. */
export async function assertPoolsExist(db: Db | Tx, poolIds: readonly string[]): Promise<void> {
  if (poolIds.length === 0) return;
  if (poolIds.some((id) => !isUuid(id))) throw new PoolerError('invalid_request', 'pool_ids must be pool ids (uuid)', { param: 'pool_ids' });
  const found = await db.selectFrom('pools').select('id').where('id', 'in', [...poolIds]).execute();
  if (found.length !== new Set(poolIds).size) throw new PoolerError('pool_not_found', 'one of pool_ids does not exist', { param: 'pool_ids' });
}
