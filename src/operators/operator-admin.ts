import { sql } from 'kysely';
import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import { hashPassword, mintTemporaryPassword, validatePasswordPolicy } from '../crypto/index.ts';
import type { Db, Tx } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { EMAIL_SCHEMA } from './bootstrap.ts';
import { assertAnotherActiveOwner, assertPoolsExist, getOperator, syncPoolAssignments, type OperatorView } from './operator-directory.ts';
import { actorOf, authorize, type Scope } from './scope.ts';
import { revokeOperatorSessions } from './sessions.ts';

export type OperatorDeps = { db: Db; now?: () => Date };
/** `temporaryPassword` is shown once and never stored (only its Argon2 hash). */
export type OperatorWithPassword = { operator: OperatorView; temporaryPassword: string | null };

const ROLE = z.enum(['instance_owner', 'instance_admin']);
const CREATE_INPUT = z.object({
  email: EMAIL_SCHEMA,
  display_name: z.string().trim().max(160).nullish(),
  role: ROLE.default('instance_admin'),
  pool_ids: z.array(z.string()).max(500).default([]),
  password: z.string().max(1024).nullish(),
  password_change_required: z.boolean().default(true),
});
const UPDATE_INPUT = z.object({
  email: EMAIL_SCHEMA.optional(),
  display_name: z.string().trim().max(160).nullable().optional(),
  role: ROLE.optional(),
  pool_ids: z.array(z.string()).max(500).optional(),
  password_change_required: z.boolean().optional(),
});

const nowOf = (deps: OperatorDeps) => deps.now?.() ?? new Date();
const byUser = (scope: Scope) => (scope.kind === 'operator' ? scope.userId : null);

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidInput(issue.message, issue.path.join('.') || null);
  }
  return parsed.data;
}

async function assertEmailFree(tx: Tx, email: string, exceptUserId: string | null): Promise<void> {
  let query = tx.selectFrom('users').select('id').where(sql`lower(email)`, '=', email).where('deleted_at', 'is', null);
  if (exceptUserId) query = query.where('id', '<>', exceptUserId);
  if (await query.executeTakeFirst()) throw new PoolerError('conflict', 'an operator with this email already exists', { param: 'email' });
}

/** Owner creates an operator (spec §4.5) with a generated temporary password unless one is given. */
export async function createOperator(deps: OperatorDeps, scope: Scope, input: unknown): Promise<OperatorWithPassword> {
  authorize(scope, 'operator.manage');
  const data = parse(CREATE_INPUT, input);
  const generated = data.password ? null : mintTemporaryPassword();
  const password = data.password ?? generated!;
  const problem = validatePasswordPolicy(password);
  if (problem) throw new PoolerError('invalid_password', problem, { param: 'password' });
  const poolIds = data.role === 'instance_admin' ? [...new Set(data.pool_ids)] : [];
  const hash = await hashPassword(password);
  const now = nowOf(deps);
  const id = await deps.db.transaction().execute(async (tx) => {
    await assertPoolsExist(tx, poolIds);
    await assertEmailFree(tx, data.email, null);
    const user = await tx
      .insertInto('users')
      .values({ email: data.email, display_name: data.display_name ?? null, password_hash: hash, password_change_required: data.password_change_required, last_login_at: null, locked_until: null, deleted_at: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    await tx.insertInto('memberships').values({ user_id: user.id, role: data.role, created_by_user_id: byUser(scope), revoked_at: null }).execute();
    await syncPoolAssignments(tx, user.id, poolIds, byUser(scope), now);
    await recordAudit(tx, { actor: actorOf(scope), action: 'operator.create', targetType: 'user', targetId: user.id, details: { email: data.email, role: data.role, pool_ids: poolIds, initial_login: generated ? 'temporary_generated' : 'set_by_owner' } });
    return user.id;
  });
  return { operator: await getOperator(deps.db, scope, id), temporaryPassword: generated };
}

/** Owner edits email, display name, role, Pools or the password-change flag (`operator.update`). */
export async function updateOperator(deps: OperatorDeps, scope: Scope, id: string, input: unknown): Promise<OperatorView> {
  const before = await getOperator(deps.db, scope, id);
  const data = parse(UPDATE_INPUT, input);
  const now = nowOf(deps);
  const role = data.role ?? before.role ?? 'instance_admin';
  const poolIds = role === 'instance_admin' ? [...new Set(data.pool_ids ?? before.pool_ids)] : [];
  await deps.db.transaction().execute(async (tx) => {
    const changed: string[] = [];
    if (data.email !== undefined && data.email !== before.email) {
      await assertEmailFree(tx, data.email, id);
      changed.push('email');
    }
    if (data.display_name !== undefined && data.display_name !== before.display_name) changed.push('display_name');
    if (data.password_change_required !== undefined && data.password_change_required !== before.password_change_required) changed.push('password_change_required');
    if (changed.length) {
      await tx
        .updateTable('users')
        .set({ email: data.email ?? before.email, display_name: data.display_name === undefined ? before.display_name : data.display_name, password_change_required: data.password_change_required ?? before.password_change_required, updated_at: now })
        .where('id', '=', id)
        .execute();
    }
    let revokedSessions = 0;
    if (role !== before.role) {
      if (before.role === 'instance_owner') await assertAnotherActiveOwner(tx, id);
      await tx.updateTable('memberships').set({ status: 'revoked', revoked_at: now, updated_at: now }).where('user_id', '=', id).where('status', '=', 'active').execute();
      await tx.insertInto('memberships').values({ user_id: id, role, created_by_user_id: byUser(scope), revoked_at: null }).execute();
      revokedSessions = await revokeOperatorSessions(tx, id, now);
      changed.push('role');
    }
    await assertPoolsExist(tx, poolIds);
    if (await syncPoolAssignments(tx, id, poolIds, byUser(scope), now)) changed.push('pool_ids');
    if (changed.length === 0) return;
    await recordAudit(tx, { actor: actorOf(scope), action: 'operator.update', targetType: 'user', targetId: id, details: { changed_fields: changed, role, previous_role: before.role, pool_ids: poolIds, revoked_sessions: revokedSessions } });
  });
  return getOperator(deps.db, scope, id);
}

function refuseSelf(scope: Scope, id: string, what: string): void {
  if (scope.kind === 'operator' && scope.userId === id) throw new PoolerError('invalid_request', `you cannot ${what} yourself`, { param: 'id' });
}

/** Disables an operator and signs them out everywhere (`operator.deactivate`). */
export async function deactivateOperator(deps: OperatorDeps, scope: Scope, id: string, input: { reason?: unknown } = {}): Promise<OperatorView> {
  const before = await getOperator(deps.db, scope, id);
  refuseSelf(scope, id, 'deactivate');
  const reason = typeof input.reason === 'string' ? input.reason.trim().slice(0, 500) || null : null;
  const now = nowOf(deps);
  await deps.db.transaction().execute(async (tx) => {
    if (before.status === 'disabled') return;
    await assertAnotherActiveOwner(tx, id);
    await tx.updateTable('users').set({ status: 'disabled', updated_at: now }).where('id', '=', id).execute();
    const revokedSessions = await revokeOperatorSessions(tx, id, now);
    await recordAudit(tx, { actor: actorOf(scope), action: 'operator.deactivate', targetType: 'user', targetId: id, details: { email: before.email, reason, revoked_sessions: revokedSessions } });
  });
  return getOperator(deps.db, scope, id);
}

/** Re-enables an operator with a new temporary password (`operator.reactivate`). */
export async function reactivateOperator(deps: OperatorDeps, scope: Scope, id: string): Promise<OperatorWithPassword> {
  const before = await getOperator(deps.db, scope, id);
  if (before.status === 'active') throw new PoolerError('conflict', 'operator is already active', { param: 'id' });
  return withNewTemporaryPassword(deps, scope, before, 'operator.reactivate');
}

/** Gives an operator a new temporary password and signs them out (`operator.password_reset`). */
export async function resetOperatorPassword(deps: OperatorDeps, scope: Scope, id: string): Promise<OperatorWithPassword> {
  const before = await getOperator(deps.db, scope, id);
  refuseSelf(scope, id, 'reset the password of');
  return withNewTemporaryPassword(deps, scope, before, 'operator.password_reset');
}

async function withNewTemporaryPassword(deps: OperatorDeps, scope: Scope, before: OperatorView, action: string): Promise<OperatorWithPassword> {
  const temporaryPassword = mintTemporaryPassword();
  const hash = await hashPassword(temporaryPassword);
  const now = nowOf(deps);
  await deps.db.transaction().execute(async (tx) => {
    await tx.updateTable('users').set({ status: 'active', password_hash: hash, password_change_required: true, failed_login_count: 0, locked_until: null, updated_at: now }).where('id', '=', before.id).execute();
    await tx.deleteFrom('login_throttles').where('scope_kind', '=', 'account').where('scope_key', '=', before.email).execute();
    const revokedSessions = await revokeOperatorSessions(tx, before.id, now);
    await recordAudit(tx, { actor: actorOf(scope), action, targetType: 'user', targetId: before.id, details: { email: before.email, revoked_sessions: revokedSessions } });
  });
  return { operator: await getOperator(deps.db, scope, before.id), temporaryPassword };
}
