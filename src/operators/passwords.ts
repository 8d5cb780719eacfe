import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import { hashPassword, validatePasswordPolicy, verifyPassword } from '../crypto/index.ts';
import { PoolerError } from '../errors.ts';
import { actorOf, type OperatorScope } from './scope.ts';
import { nowOf, revokeOperatorSessions, type AuthDeps } from './sessions.ts';

const CHANGE_INPUT = z.object({ current_password: z.string().max(1024).nullish(), new_password: z.string({ error: 'new password is required' }).max(1024) });

/**
 * Changes the operator's own password (spec §4.3). The current password is required unless the
 * operator signed in with a temporary one (`password_change_required`). Every other session of
 * the operator is revoked; the calling session stays signed in.
 */
export async function changeOwnPassword(deps: AuthDeps, scope: OperatorScope, input: unknown): Promise<{ revokedSessions: number }> {
  const parsed = CHANGE_INPUT.safeParse(input ?? {});
  if (!parsed.success) throw new PoolerError('invalid_request', 'new password is required', { param: 'new_password' });
  const { current_password: current, new_password: next } = parsed.data;
  const user = await deps.db.selectFrom('users').select(['password_hash', 'password_change_required']).where('id', '=', scope.userId).executeTakeFirstOrThrow();
  const required = user.password_change_required;
  if (!required || current) {
    if (!current || !(await verifyPassword(user.password_hash, current))) throw new PoolerError('invalid_current_password', undefined, { param: 'current_password' });
  }
  const problem = validatePasswordPolicy(next);
  if (problem) throw new PoolerError('invalid_password', problem, { param: 'new_password' });
  if (await verifyPassword(user.password_hash, next)) throw new PoolerError('invalid_password', 'the new password must differ from the current one', { param: 'new_password' });
  const hash = await hashPassword(next);
  const now = nowOf(deps);
  return deps.db.transaction().execute(async (tx) => {
    await tx.updateTable('users').set({ password_hash: hash, password_change_required: false, updated_at: now }).where('id', '=', scope.userId).execute();
    const revokedSessions = await revokeOperatorSessions(tx, scope.userId, now, scope.sessionId);
    await recordAudit(tx, {
      actor: actorOf(scope),
      action: required ? 'auth.required_password_change' : 'auth.password_change',
      targetType: 'user',
      targetId: scope.userId,
      details: { revoked_sessions: revokedSessions },
    });
    return { revokedSessions };
  });
}
