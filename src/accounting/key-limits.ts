import { z } from 'zod';
import { recordAudit, type Actor } from '../audit/index.ts';
import { apiKeyRefColumn } from '../api-keys/service.ts';
import { API_KEY_CHANNEL, type Db, type Notifier } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';

const LIMIT = z.number().int().positive().nullable().optional();
const LIMITS_INPUT = z.strictObject({
  model: z.string().trim().min(1).max(255).nullable().optional(),
  max_requests_per_minute: LIMIT,
  max_tokens_per_day: LIMIT,
  max_tokens_per_week: LIMIT,
  max_input_tokens_per_request: LIMIT,
  max_output_tokens_per_request: LIMIT,
  clear: z.boolean().optional(),
});

export type KeyLimitsView = {
  scope: 'default' | 'model';
  model: string | null;
  max_requests_per_minute: number | null;
  max_tokens_per_day: number | null;
  max_tokens_per_week: number | null;
  max_input_tokens_per_request: number | null;
  max_output_tokens_per_request: number | null;
};

/**
 * Sets (or clears) a key's limits, for all models or one model. The binding row is replaced in
 * one transaction; every web process drops its cached policy through the key channel.
 */
export async function setKeyLimits(deps: { db: Db; notifier: Notifier }, actor: Actor, keyRef: string, input: unknown): Promise<KeyLimitsView[]> {
  const parsed = LIMITS_INPUT.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidInput(`${issue.path.join('.') || 'limits'}: ${issue.message}`, issue.path.join('.') || null);
  }
  const ref = keyRef.trim();
  const key = await deps.db.selectFrom('api_keys').select(['id', 'pool_id', 'key_prefix', 'status']).where(apiKeyRefColumn(ref) ?? 'key_prefix', '=', ref).executeTakeFirst();
  if (!key) throw new PoolerError('not_found', `api key ${ref} does not exist`, { param: 'key' });
  const { model, clear, ...limits } = parsed.data;
  const scope = model ? 'model' : 'default';
  const modelId = model ? model.toLowerCase() : null;
  await deps.db.transaction().execute(async (tx) => {
    let del = tx.deleteFrom('api_key_policy_bindings').where('api_key_id', '=', key.id).where('binding_scope', '=', scope);
    del = modelId ? del.where('model_identifier', '=', modelId) : del;
    await del.execute();
    if (!clear) {
      await tx
        .insertInto('api_key_policy_bindings')
        .values({
          api_key_id: key.id,
          binding_scope: scope,
          model_identifier: modelId,
          max_requests_per_minute: limits.max_requests_per_minute ?? null,
          max_tokens_per_day: limits.max_tokens_per_day ?? null,
          max_tokens_per_week: limits.max_tokens_per_week ?? null,
          max_input_tokens_per_request: limits.max_input_tokens_per_request ?? null,
          max_output_tokens_per_request: limits.max_output_tokens_per_request ?? null,
        })
        .execute();
    }
    await recordAudit(tx, { actor, action: 'api_key.update', poolId: key.pool_id, targetType: 'api_key', targetId: key.id, details: { changed_fields: ['limits'], scope, model: modelId, cleared: Boolean(clear), ...limits } });
  });
  await deps.notifier.publish(API_KEY_CHANNEL, key.key_prefix);
  return listKeyLimits(deps.db, key.id);
}

export async function listKeyLimits(db: Db, apiKeyId: string): Promise<KeyLimitsView[]> {
  const rows = await db.selectFrom('api_key_policy_bindings').selectAll().where('api_key_id', '=', apiKeyId).where('status', '=', 'active').orderBy('binding_scope').orderBy('model_identifier').execute();
  return rows.map((row) => ({
    scope: row.binding_scope,
    model: row.model_identifier,
    max_requests_per_minute: row.max_requests_per_minute,
    max_tokens_per_day: row.max_tokens_per_day === null ? null : Number(row.max_tokens_per_day),
    max_tokens_per_week: row.max_tokens_per_week === null ? null : Number(row.max_tokens_per_week),
    max_input_tokens_per_request: row.max_input_tokens_per_request === null ? null : Number(row.max_input_tokens_per_request),
    max_output_tokens_per_request: row.max_output_tokens_per_request === null ? null : Number(row.max_output_tokens_per_request),
  }));
}
