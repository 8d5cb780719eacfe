/**
 * A Pool API key's model policy (control-plane spec §6.2): which models it may use, a model it is
 * always served, its reasoning policy and service tier. Pure: parsing an edit, merging it into the
 * stored policy, and the consistency rules (`invalid_policy`) live here; the gateway applies the
 * result per request (src/gateway/key-policy.ts).
 */
import { z } from 'zod';
import { PoolerError, invalidInput } from '../errors.ts';

/** Efforts in increasing depth; `minimal` folds to `low` and `ultra` to `max` (runtime spec §5.3). */
export const REASONING_EFFORTS = ['none', 'low', 'medium', 'high', 'xhigh', 'max'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];
const EFFORT_ALIASES: Record<string, ReasoningEffort> = { minimal: 'low', ultra: 'max' };

/** Tiers a key can be pinned to; `fast` is the client's word for `priority`. */
export const SERVICE_TIERS = ['auto', 'default', 'flex', 'priority'] as const;
export type ServiceTier = (typeof SERVICE_TIERS)[number];

export type ModelMode = 'all' | 'selected' | 'deny_all';

/** The stored policy, in column terms: `allowedModels` null = every model, [] = none. */
export type ModelPolicy = {
  allowedModels: string[] | null;
  enforcedModel: string | null;
  maximumReasoningEffort: ReasoningEffort | null;
  enforcedReasoningEffort: ReasoningEffort | null;
  serviceTier: ServiceTier | null;
};

export const OPEN_POLICY: ModelPolicy = { allowedModels: null, enforcedModel: null, maximumReasoningEffort: null, enforcedReasoningEffort: null, serviceTier: null };

export const modelModeOf = (allowed: string[] | null): ModelMode => (allowed === null ? 'all' : allowed.length === 0 ? 'deny_all' : 'selected');

/** The policy in the admin API's and the CLI's JSON words (the fields an edit takes). */
export const modelPolicyJson = (policy: ModelPolicy) => ({
  model_mode: modelModeOf(policy.allowedModels),
  allowed_models: policy.allowedModels ?? [],
  enforced_model: policy.enforcedModel,
  maximum_reasoning_effort: policy.maximumReasoningEffort,
  enforced_reasoning_effort: policy.enforcedReasoningEffort,
  service_tier: policy.serviceTier,
});

/** Canonical form of a reasoning effort, or null when it is not one. */
export function normalizeEffort(value: unknown): ReasoningEffort | null {
  if (typeof value !== 'string') return null;
  const lower = value.trim().toLowerCase();
  if (lower in EFFORT_ALIASES) return EFFORT_ALIASES[lower]!;
  return (REASONING_EFFORTS as readonly string[]).includes(lower) ? (lower as ReasoningEffort) : null;
}

export const effortRank = (effort: ReasoningEffort): number => REASONING_EFFORTS.indexOf(effort);

/**
 * A model id as keys name it (allowed and enforced models, per-model limits): compared lowercase;
 * an id with whitespace inside can never match a request.
 */
export const MODEL_ID = z
  .string()
  .trim()
  .min(1, 'model ids must not be empty')
  .max(255)
  .transform((v) => v.toLowerCase())
  .refine((v) => !/\s/.test(v), 'model ids must not contain whitespace');
const EFFORT = z
  .string()
  .nullable()
  .transform((v, ctx) => {
    if (v === null || v.trim() === '') return null;
    const effort = normalizeEffort(v);
    if (!effort) ctx.addIssue({ code: 'custom', message: `must be one of ${REASONING_EFFORTS.join(', ')}` });
    return effort;
  });
const TIER = z
  .string()
  .nullable()
  .transform((v, ctx) => {
    if (v === null || v.trim() === '') return null;
    const tier = v.trim().toLowerCase() === 'fast' ? 'priority' : v.trim().toLowerCase();
    if (!(SERVICE_TIERS as readonly string[]).includes(tier)) ctx.addIssue({ code: 'custom', message: `must be one of ${SERVICE_TIERS.join(', ')} (fast = priority)` });
    return tier as ServiceTier;
  });

/** An edit of the policy as the admin API, the CLI and the UI send it; absent = unchanged, null = cleared. */
export const MODEL_POLICY_EDIT = z
  .object({
    model_mode: z.enum(['all', 'selected', 'deny_all', 'none']).optional(),
    allowed_models: z.array(MODEL_ID).max(200).optional(),
    enforced_model: z.preprocess((v) => (v === '' ? null : v), MODEL_ID.nullable()).optional(),
    maximum_reasoning_effort: EFFORT.optional(),
    enforced_reasoning_effort: EFFORT.optional(),
    service_tier: TIER.optional(),
  })
  .strict();
export type ModelPolicyEdit = z.input<typeof MODEL_POLICY_EDIT>;

const invalidPolicy = (message: string, param: string) => new PoolerError('invalid_policy', message, { param });

/**
 * Parses a key edit (policy, limits) with its schema; absent input is `{}`. The first problem is an
 * `invalid_request` naming the field (`param`), or `subject` when it is the whole input's.
 */
export function parseFields<T extends z.ZodType>(schema: T, input: unknown, subject?: string): z.output<T> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map(String).join('.') || null;
  const about = param ?? subject;
  throw invalidInput(about ? `${about}: ${issue.message}` : issue.message, param);
}

/** Parses an edit; malformed values are `invalid_request` naming the field. */
export function parseModelPolicyEdit(input: unknown): z.output<typeof MODEL_POLICY_EDIT> {
  return parseFields(MODEL_POLICY_EDIT, input);
}

/**
 * Applies an edit to the stored policy and checks the result as a whole (spec §6.2, acceptance
 * 29): a selected list must not be empty, an enforced model must be in it, and a key has either a
 * maximum or an enforced effort, never both. Throws `invalid_policy`; nothing is written then.
 */
export function mergeModelPolicy(current: ModelPolicy, input: unknown): ModelPolicy {
  const edit = parseModelPolicyEdit(input);
  const next: ModelPolicy = { ...current };
  const mode = edit.model_mode === 'none' ? 'deny_all' : edit.model_mode;
  if (mode === 'all') {
    if (edit.allowed_models !== undefined && edit.allowed_models.length > 0) throw invalidPolicy('model_mode all takes no allowed_models', 'allowed_models');
    next.allowedModels = null;
  } else if (mode === 'deny_all') {
    if (edit.allowed_models !== undefined && edit.allowed_models.length > 0) throw invalidPolicy('model_mode deny_all takes no allowed_models', 'allowed_models');
    next.allowedModels = [];
  } else if (mode === 'selected' || edit.allowed_models !== undefined) {
    const models = [...new Set(edit.allowed_models ?? (current.allowedModels && current.allowedModels.length > 0 ? current.allowedModels : []))];
    if (models.length === 0) throw invalidPolicy('selected models need at least one model id', 'allowed_models');
    next.allowedModels = models.sort();
  }
  if (edit.enforced_model !== undefined) next.enforcedModel = edit.enforced_model;
  if (edit.maximum_reasoning_effort !== undefined) next.maximumReasoningEffort = edit.maximum_reasoning_effort;
  if (edit.enforced_reasoning_effort !== undefined) next.enforcedReasoningEffort = edit.enforced_reasoning_effort;
  if (edit.service_tier !== undefined) next.serviceTier = edit.service_tier;
  checkModelPolicy(next);
  return next;
}

/** The rules every saved policy satisfies. */
export function checkModelPolicy(policy: ModelPolicy): void {
  if (policy.allowedModels !== null && policy.enforcedModel !== null && !policy.allowedModels.includes(policy.enforcedModel)) {
    throw invalidPolicy(
      policy.allowedModels.length === 0 ? 'a key that may use no model cannot have an enforced model' : `enforced model ${policy.enforcedModel} is not among the selected models`,
      'enforced_model',
    );
  }
  if (policy.maximumReasoningEffort !== null && policy.enforcedReasoningEffort !== null) {
    throw invalidPolicy('set either a maximum reasoning effort or an enforced one, not both', 'enforced_reasoning_effort');
  }
}

/** The policy fields that differ, in the admin API's words (for `api_key.update` audits). */
export function changedPolicyFields(before: ModelPolicy, after: ModelPolicy): string[] {
  const changed: string[] = [];
  if (JSON.stringify(before.allowedModels) !== JSON.stringify(after.allowedModels)) changed.push('allowed_models');
  if (before.enforcedModel !== after.enforcedModel) changed.push('enforced_model');
  if (before.maximumReasoningEffort !== after.maximumReasoningEffort) changed.push('maximum_reasoning_effort');
  if (before.enforcedReasoningEffort !== after.enforcedReasoningEffort) changed.push('enforced_reasoning_effort');
  if (before.serviceTier !== after.serviceTier) changed.push('service_tier');
  return changed;
}

/** Reads the stored columns; values the rebuild does not write (e.g. `minimal`) are folded. */
export function modelPolicyOf(row: {
  allowed_model_identifiers: string[] | null;
  enforced_model_identifier: string | null;
  maximum_reasoning_effort: string | null;
  enforced_reasoning_effort: string | null;
  enforced_service_tier: string | null;
}): ModelPolicy {
  const tier = row.enforced_service_tier;
  return {
    allowedModels: row.allowed_model_identifiers === null ? null : row.allowed_model_identifiers.map((m) => m.toLowerCase()),
    enforcedModel: row.enforced_model_identifier?.toLowerCase() ?? null,
    maximumReasoningEffort: normalizeEffort(row.maximum_reasoning_effort),
    enforcedReasoningEffort: normalizeEffort(row.enforced_reasoning_effort),
    serviceTier: tier && (SERVICE_TIERS as readonly string[]).includes(tier) ? (tier as ServiceTier) : null,
  };
}

/** The policy's columns, for an update. */
export const modelPolicyColumns = (policy: ModelPolicy) => ({
  allowed_model_identifiers: policy.allowedModels,
  enforced_model_identifier: policy.enforcedModel,
  maximum_reasoning_effort: policy.maximumReasoningEffort,
  enforced_reasoning_effort: policy.enforcedReasoningEffort,
  enforced_service_tier: policy.serviceTier,
});
