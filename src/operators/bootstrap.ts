import { z } from 'zod';
import { hashPassword, validatePasswordPolicy } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { recordAudit, type Actor } from '../audit/index.ts';

export type BootstrapStatus = 'pending' | 'completed';

export const EMAIL_SCHEMA = z
  .string()
  .trim()
  .toLowerCase()
  .max(160, 'email must be at most 160 characters')
  .regex(/^[^\s]+@[^\s]+$/, 'email must look like name@example.com');

const BOOTSTRAP_INPUT = z.object({
  email: EMAIL_SCHEMA,
  password: z.string(),
  display_name: z.string().trim().max(160).optional(),
});

export async function bootstrapStatus(db: Db): Promise<BootstrapStatus> {
  const row = await db.selectFrom('platform_bootstrap_state').select('status').executeTakeFirst();
  return row?.status === 'pending' || !row ? 'pending' : 'completed';
}

export type BootstrapResult = { userId: string; email: string };

/**
 * Creates the first instance owner, exactly once. Concurrent attempts serialize on the singleton
 * row; the loser gets `bootstrap_completed` and nothing changes.
 */
export async function bootstrapOwner(db: Db, actor: Actor, input: unknown, context: { ipAddress?: string | null } = {}): Promise<BootstrapResult> {
  const parsed = BOOTSTRAP_INPUT.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidInput(issue.message, issue.path.join('.') || null);
  }
  const policyProblem = validatePasswordPolicy(parsed.data.password);
  if (policyProblem) throw invalidInput(policyProblem, 'password');
  if ((await bootstrapStatus(db)) !== 'pending') throw new PoolerError('bootstrap_completed');
  const passwordHash = await hashPassword(parsed.data.password);

  return db.transaction().execute(async (tx) => {
    const state = await tx.selectFrom('platform_bootstrap_state').select('status').forUpdate().executeTakeFirst();
    if (state && state.status !== 'pending') throw new PoolerError('bootstrap_completed');
    const user = await tx
      .insertInto('users')
      .values({ email: parsed.data.email, display_name: parsed.data.display_name ?? null, password_hash: passwordHash, last_login_at: null, locked_until: null, deleted_at: null })
      .returning(['id', 'email'])
      .executeTakeFirstOrThrow();
    await tx.insertInto('memberships').values({ user_id: user.id, role: 'instance_owner', created_by_user_id: null, revoked_at: null }).execute();
    await tx
      .updateTable('platform_bootstrap_state')
      .set({ status: 'completed', owner_user_id: user.id, completed_at: new Date(), updated_at: new Date() })
      .execute();
    await recordAudit(tx, {
      actor,
      action: 'auth.bootstrap',
      targetType: 'user',
      targetId: user.id,
      ipAddress: context.ipAddress ?? null,
      details: { email: user.email },
    });
    return { userId: user.id, email: user.email };
  });
}
