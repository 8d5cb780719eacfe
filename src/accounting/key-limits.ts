/**
 * Setting and reading a Pool API key's limits (control-plane spec §6.2): a default binding for
 * every model plus per-model bindings, stored in `api_key_policy_bindings` and enforced by the
 * KeyPolicyGate. Every change is one transaction, audited as `api_key.limits_update` with the
 * bindings before and after, and published on the key channel so every process drops its cached
 * policy before the next request.
 */
import { z } from 'zod';
import { recordAudit, type Actor } from '../audit/index.ts';
import { apiKeyRefColumn, parseFields, MODEL_ID } from '../api-keys/index.ts';
import { API_KEY_CHANNEL, type Db, type Notifier, type Tx } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';

export const LIMIT_FIELDS = ['max_requests_per_minute', 'max_tokens_per_day', 'max_tokens_per_week', 'max_input_tokens_per_request', 'max_output_tokens_per_request'] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];
/** One binding's limits; null = no limit on that measure. */
export type LimitValues = Record<LimitField, number | null>;

export type KeyLimitsView = { scope: 'default' | 'model'; model: string | null } & LimitValues;

/** A whole limits document: the default binding and the per-model ones (PUT semantics). */
export type KeyLimitsDocument = { default: LimitValues | null; models: ({ model: string } & LimitValues)[] };

// requests per minute is an integer column; token limits are bigint.
const LIMIT = (max: number) => z.number().int().positive().max(max).nullable().optional();
const LIMIT_SHAPE = {
  max_requests_per_minute: LIMIT(2_147_483_647),
  max_tokens_per_day: LIMIT(Number.MAX_SAFE_INTEGER),
  max_tokens_per_week: LIMIT(Number.MAX_SAFE_INTEGER),
  max_input_tokens_per_request: LIMIT(Number.MAX_SAFE_INTEGER),
  max_output_tokens_per_request: LIMIT(Number.MAX_SAFE_INTEGER),
};
/** One scope's change: given fields set (null clears one), absent fields stay; `clear` removes the binding. */
const LIMITS_CHANGE = z.strictObject({ model: MODEL_ID.nullable().optional(), ...LIMIT_SHAPE, clear: z.boolean().optional() });
const LIMITS_DOCUMENT = z.strictObject({
  default: z.strictObject(LIMIT_SHAPE).nullable().optional(),
  models: z.array(z.strictObject({ model: MODEL_ID, ...LIMIT_SHAPE })).max(100).optional(),
});

const NO_LIMITS: LimitValues = { max_requests_per_minute: null, max_tokens_per_day: null, max_tokens_per_week: null, max_input_tokens_per_request: null, max_output_tokens_per_request: null };

const valuesOf = (source: Partial<Record<LimitField, number | null | undefined>>): LimitValues =>
  Object.fromEntries(LIMIT_FIELDS.map((f) => [f, source[f] ?? null])) as LimitValues;

/**
 * Pure: one binding after a change. Given fields replace the current ones (null clears), absent
 * fields stay. A binding left without any limit is no binding at all (null).
 */
export function mergeLimits(current: LimitValues | null, change: Partial<Record<LimitField, number | null | undefined>>): LimitValues | null {
  const next = { ...(current ?? NO_LIMITS) };
  for (const field of LIMIT_FIELDS) if (change[field] !== undefined) next[field] = change[field];
  return LIMIT_FIELDS.some((f) => next[f] !== null) ? next : null;
}

/** Pure: a limits document checked and normalised (model ids lowercased, unique, empty bindings dropped). */
export function parseLimitsDocument(input: unknown): KeyLimitsDocument {
  const doc = parseFields(LIMITS_DOCUMENT, input, 'limits');
  const seen = new Set<string>();
  const models: KeyLimitsDocument['models'] = [];
  for (const [index, binding] of (doc.models ?? []).entries()) {
    if (seen.has(binding.model)) throw invalidInput(`models.${index}.model: ${binding.model} appears twice`, `models.${index}.model`);
    seen.add(binding.model);
    const values = mergeLimits(null, binding);
    if (values) models.push({ model: binding.model, ...values });
  }
  return { default: doc.default ? mergeLimits(null, doc.default) : null, models };
}

type KeyRef = { id: string; pool_id: string; key_prefix: string; status: string };

/** The key an id (uuid) or prefix names; `lock` holds its row for the rest of the transaction. */
async function findKey(db: Db | Tx, keyRef: string, lock: boolean): Promise<KeyRef> {
  const ref = keyRef.trim();
  const column = apiKeyRefColumn(ref);
  if (!column) throw invalidInput('give a key id (uuid) or prefix (sk-cxp-<12 hex>)', 'key');
  const key = await db
    .selectFrom('api_keys')
    .select(['id', 'pool_id', 'key_prefix', 'status'])
    .where(column, '=', ref)
    .$if(lock, (query) => query.forUpdate())
    .executeTakeFirst();
  if (!key) throw new PoolerError('not_found', `api key ${ref} does not exist`, { param: 'key' });
  return key;
}

async function lockKey(tx: Tx, keyRef: string): Promise<KeyRef> {
  const key = await findKey(tx, keyRef, true);
  if (key.status === 'revoked') throw new PoolerError('api_key_revoked', 'the api key is revoked; it can no longer be changed, only deleted', { status: 409, param: 'status' });
  return key;
}

async function writeBindings(tx: Tx, apiKeyId: string, doc: KeyLimitsDocument): Promise<void> {
  await tx.deleteFrom('api_key_policy_bindings').where('api_key_id', '=', apiKeyId).execute();
  const rows = [
    ...(doc.default ? [{ api_key_id: apiKeyId, binding_scope: 'default' as const, model_identifier: null, ...doc.default }] : []),
    ...doc.models.map(({ model, ...values }) => ({ api_key_id: apiKeyId, binding_scope: 'model' as const, model_identifier: model, ...values })),
  ];
  if (rows.length > 0) await tx.insertInto('api_key_policy_bindings').values(rows).execute();
}

/** The stored bindings as a document, the shape the admin API reads and writes. */
export const toLimitsDocument = (views: KeyLimitsView[]): KeyLimitsDocument => ({
  default: views.find((v) => v.scope === 'default') ? valuesOf(views.find((v) => v.scope === 'default')!) : null,
  models: views.filter((v) => v.scope === 'model').map((v) => ({ model: v.model!, ...valuesOf(v) })),
});

/** Writes the new document when it differs, audited with before and after; answers the stored limits. */
async function changeLimits(deps: { db: Db; notifier: Notifier }, actor: Actor, keyRef: string, plan: (current: KeyLimitsDocument) => KeyLimitsDocument): Promise<KeyLimitsView[]> {
  const { key, changed } = await deps.db.transaction().execute(async (tx) => {
    const key = await lockKey(tx, keyRef);
    const before = toLimitsDocument(await listKeyLimits(tx, key.id));
    const after = plan(before);
    if (JSON.stringify(sorted(before)) === JSON.stringify(sorted(after))) return { key, changed: false };
    await writeBindings(tx, key.id, after);
    await recordAudit(tx, { actor, action: 'api_key.limits_update', poolId: key.pool_id, targetType: 'api_key', targetId: key.id, details: { key_prefix: key.key_prefix, before, after } });
    return { key, changed: true };
  });
  if (changed) await deps.notifier.publish(API_KEY_CHANNEL, key.key_prefix);
  return listKeyLimits(deps.db, key.id);
}

const sorted = (doc: KeyLimitsDocument) => ({ default: doc.default, models: [...doc.models].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0)) });

/**
 * Changes one binding (the default, or one model's): given limits are set, null clears one, absent
 * ones stay; `clear: true` removes the binding. The CLI's `keys limits`.
 */
export async function setKeyLimits(deps: { db: Db; notifier: Notifier }, actor: Actor, keyRef: string, input: unknown): Promise<KeyLimitsView[]> {
  const { model, clear, ...change } = parseFields(LIMITS_CHANGE, input, 'limits');
  return changeLimits(deps, actor, keyRef, (current) => {
    if (!model) return { ...current, default: clear ? null : mergeLimits(current.default, change) };
    const existing = current.models.find((m) => m.model === model) ?? null;
    const values = clear ? null : mergeLimits(existing, change);
    const others = current.models.filter((m) => m.model !== model);
    return { ...current, models: values ? [...others, { model, ...values }] : others };
  });
}

/** Replaces all of a key's limits with a document (the admin API's PUT). */
export async function replaceKeyLimits(deps: { db: Db; notifier: Notifier }, actor: Actor, keyRef: string, input: unknown): Promise<KeyLimitsView[]> {
  const doc = parseLimitsDocument(input);
  return changeLimits(deps, actor, keyRef, () => doc);
}

/** The limits of the key an id or prefix names (revoked keys too); the CLI's `keys limits KEY`. */
export async function getKeyLimits(db: Db, keyRef: string): Promise<KeyLimitsView[]> {
  return listKeyLimits(db, (await findKey(db, keyRef, false)).id);
}

export async function listKeyLimits(db: Db | Tx, apiKeyId: string): Promise<KeyLimitsView[]> {
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
