import { InvalidArgumentError, Option, type Command } from 'commander';
import { deleteApiKey, listApiKeys, mintApiKey, modelPolicyJson, pauseApiKey, resumeApiKey, revokeApiKey, rotateApiKey, updateApiKey, REASONING_EFFORTS, SERVICE_TIERS, type ApiKey, type ModelPolicyEdit } from '../api-keys/index.ts';
import { getKeyLimits, setKeyLimits, type KeyLimitsView } from '../accounting/index.ts';
import { cliActor } from '../audit/index.ts';
import { findPool, listPools } from '../pools/index.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { registerKeyObservatoryCommands } from './key-observatory.ts';
import { dash, formatTable, isoOrNull, printJson, shortDate } from './format.ts';
import { CliFailure, EXIT_USAGE } from './io.ts';

export type KeyJson = {
  id: string;
  pool: string;
  prefix: string;
  label: string | null;
  state: string;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
};

/** Never the secret: only the prefix identifies a key after it was shown once. */
export const keyJson = (key: ApiKey, poolSlug: string): KeyJson => ({
  id: key.id,
  pool: poolSlug,
  prefix: key.prefix,
  label: key.label,
  state: key.state,
  expires_at: isoOrNull(key.expiresAt),
  last_used_at: isoOrNull(key.lastUsedAt),
  created_at: key.createdAt.toISOString(),
});

type UpdateOptions = {
  label?: string;
  expires?: string;
  notes?: string;
  status?: string;
  models?: string;
  allModels?: boolean;
  denyAllModels?: boolean;
  enforceModel?: string;
  maxReasoningEffort?: string;
  reasoningEffort?: string;
  unrestrictedReasoning?: boolean;
  serviceTier?: string;
  pool?: string;
  json?: boolean;
};

/** Pure: the model-policy part of `keys update` flags; undefined when none was given. Conflicts are usage errors (exit 2). */
export function policyEditFromFlags(options: UpdateOptions): ModelPolicyEdit | undefined {
  const modes = [options.models !== undefined, options.allModels === true, options.denyAllModels === true].filter(Boolean).length;
  if (modes > 1) throw new CliFailure('give only one of --models, --all-models, --deny-all-models', EXIT_USAGE);
  if (options.unrestrictedReasoning && (options.maxReasoningEffort !== undefined || options.reasoningEffort !== undefined)) {
    throw new CliFailure('--unrestricted-reasoning cannot be combined with --max-reasoning-effort or --reasoning-effort', EXIT_USAGE);
  }
  const clearable = (value: string) => (value.trim().toLowerCase() === 'none' || value.trim() === '' ? null : value);
  const edit: ModelPolicyEdit = {};
  if (options.models !== undefined) Object.assign(edit, { model_mode: 'selected', allowed_models: options.models.split(',').map((m) => m.trim()).filter(Boolean) });
  if (options.allModels) edit.model_mode = 'all';
  if (options.denyAllModels) edit.model_mode = 'deny_all';
  if (options.enforceModel !== undefined) edit.enforced_model = clearable(options.enforceModel);
  if (options.maxReasoningEffort !== undefined) edit.maximum_reasoning_effort = options.maxReasoningEffort;
  if (options.reasoningEffort !== undefined) edit.enforced_reasoning_effort = options.reasoningEffort;
  if (options.unrestrictedReasoning) Object.assign(edit, { maximum_reasoning_effort: null, enforced_reasoning_effort: null });
  if (options.serviceTier !== undefined) edit.service_tier = clearable(options.serviceTier);
  return Object.keys(edit).length > 0 ? edit : undefined;
}

/** Pure: a limit flag's value, a positive integer or `none` (remove that limit; commander keeps no null). */
export function parseLimitFlag(value: string): number | 'none' {
  if (value.trim().toLowerCase() === 'none') return 'none';
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0) throw new InvalidArgumentError('expected a positive integer, or none to remove the limit');
  return Number(value);
}

type LimitFlag = number | 'none';

function printLimits(ctx: OperatorContext, limits: KeyLimitsView[], json: boolean | undefined): void {
  if (json) return printJson(ctx.io, limits);
  if (limits.length === 0) return ctx.io.stdout('no limits on this key\n');
  ctx.io.stdout(
    formatTable(
      ['SCOPE', 'MODEL', 'RPM', 'TOKENS/DAY', 'TOKENS/WEEK', 'MAX IN', 'MAX OUT'],
      limits.map((l) => [l.scope, dash(l.model), dash(l.max_requests_per_minute), dash(l.max_tokens_per_day), dash(l.max_tokens_per_week), dash(l.max_input_tokens_per_request), dash(l.max_output_tokens_per_request)]),
    ),
  );
}

export function registerKeyCommands(program: Command, ctx: OperatorContext): void {
  const keys = program.command('keys').description(OPERATOR_GROUP_DESCRIPTIONS.keys);

  keys
    .command('create')
    .description('create a Pool API key; the key is printed once, as the last line')
    .requiredOption('--pool <pool>', 'pool slug or id')
    .option('--label <label>', 'label to recognise the key by')
    .option('--expires <date>', 'expiry, an ISO-8601 date or date-time such as 2027-01-31')
    .option('--dashboard-access', 'let the key holder sign in to the Observatory (/observatory) with the key')
    .action(async (options: { pool: string; label?: string; expires?: string; dashboardAccess?: boolean }) => {
      const deps = await ctx.deps();
      const { apiKey, key } = await mintApiKey(deps, cliActor(), { pool: options.pool, label: options.label, expiresAt: options.expires, dashboardAccess: options.dashboardAccess === true });
      const pool = await findPool(deps.db, apiKey.poolId);
      ctx.io.stderr('codex-pooler: the key below is shown only this once; store it now\n');
      ctx.io.stdout(
        `created key ${apiKey.prefix} (${apiKey.id}) in pool ${pool.slug}` +
          `${apiKey.label ? `, label ${JSON.stringify(apiKey.label)}` : ''}, expires ${apiKey.expiresAt ? apiKey.expiresAt.toISOString() : 'never'}\n` +
          `${key}\n`,
      );
    });

  registerKeyObservatoryCommands(keys, ctx);

  keys
    .command('list')
    .description('list Pool API keys (prefixes only, never the secret)')
    .option('--pool <pool>', 'only this pool (slug or id)')
    .option('--json', 'print a JSON array')
    .action(async (options: { pool?: string; json?: boolean }) => {
      const { db } = await ctx.deps();
      const list = await listApiKeys(db, options.pool ? { pool: options.pool } : {});
      const slugs = new Map((await listPools(db)).map((p) => [p.id, p.slug]));
      const slug = (key: ApiKey) => slugs.get(key.poolId) ?? key.poolId;
      if (options.json) return printJson(ctx.io, list.map((k) => keyJson(k, slug(k))));
      if (list.length === 0) return ctx.io.stdout('no keys: create one with `codex-pooler keys create --pool NAME`\n');
      ctx.io.stdout(
        formatTable(
          ['ID', 'POOL', 'PREFIX', 'LABEL', 'STATE', 'EXPIRES', 'LAST USED', 'CREATED'],
          list.map((k) => [k.id, slug(k), k.prefix, dash(k.label), k.state, shortDate(k.expiresAt), shortDate(k.lastUsedAt), shortDate(k.createdAt)]),
        ),
      );
    });

  keys
    .command('revoke')
    .description('revoke a key at once (every process stops accepting it)')
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .action(async (ref: string) => {
      const deps = await ctx.deps();
      const key = await revokeApiKey(deps, cliActor(), ref);
      ctx.io.stdout(`revoked key ${key.prefix}\n`);
    });

  keys
    .command('pause')
    .description('pause a key: clients get 401 api_key_paused until it is resumed')
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .action(async (ref: string) => {
      const key = await pauseApiKey(await ctx.deps(), cliActor(), ref);
      ctx.io.stdout(`key ${key.prefix} is ${key.status}\n`);
    });

  keys
    .command('resume')
    .description('resume a paused key')
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .action(async (ref: string) => {
      const key = await resumeApiKey(await ctx.deps(), cliActor(), ref);
      ctx.io.stdout(`key ${key.prefix} is ${key.status}\n`);
    });

  keys
    .command('rotate')
    .description('give a key a new secret and prefix (same id, limits and history); the old key stops working at once; the new key is printed once, as the last line')
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .action(async (ref: string) => {
      const rotated = await rotateApiKey(await ctx.deps(), cliActor(), ref);
      ctx.io.stderr('codex-pooler: the key below is shown only this once; store it now\n');
      ctx.io.stdout(`rotated key ${rotated.previousPrefix} -> ${rotated.apiKey.prefix} (${rotated.apiKey.id})\n${rotated.key}\n`);
    });

  keys
    .command('update')
    .description("edit a key's label, expiry, notes, status, model policy or pool")
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .option('--label <label>', 'new label ("" clears it)')
    .option('--expires <date>', 'new expiry, an ISO-8601 date or date-time ("" or never: no expiry)')
    .option('--notes <text>', 'notes for operators ("" clears them)')
    .addOption(new Option('--status <status>', 'active or paused').choices(['active', 'paused']))
    .option('--models <ids>', 'allow only these models (comma-separated ids)')
    .option('--all-models', 'allow every model of the pool')
    .option('--deny-all-models', 'allow no model at all')
    .option('--enforce-model <id>', 'serve every request with this model (none: the client chooses)')
    .option('--max-reasoning-effort <effort>', `refuse reasoning efforts above this one (${REASONING_EFFORTS.join(', ')})`)
    .option('--reasoning-effort <effort>', 'always use this reasoning effort')
    .option('--unrestricted-reasoning', 'remove the maximum or enforced reasoning effort')
    .option('--service-tier <tier>', `always use this service tier (${SERVICE_TIERS.join(', ')}; none: the client chooses)`)
    .option('--pool <pool>', 'move the key to another pool (slug or id); ends its Observatory sessions')
    .option('--json', 'print the key as JSON')
    .action(async (ref: string, options: UpdateOptions) => {
      const policy = policyEditFromFlags(options);
      if (options.label === undefined && options.expires === undefined && options.notes === undefined && options.status === undefined && policy === undefined && options.pool === undefined) {
        throw new CliFailure('give at least one of --label, --expires, --notes, --status, --models, --all-models, --deny-all-models, --enforce-model, --max-reasoning-effort, --reasoning-effort, --unrestricted-reasoning, --service-tier, --pool', EXIT_USAGE);
      }
      const deps = await ctx.deps();
      const expiresAt = options.expires === undefined ? undefined : options.expires.trim() === '' || options.expires.trim() === 'never' ? null : options.expires;
      const key = await updateApiKey(deps, cliActor(), ref, { label: options.label, expiresAt, notes: options.notes, status: options.status, policy, pool: options.pool });
      const pool = (await findPool(deps.db, key.poolId)).slug;
      if (options.json) return printJson(ctx.io, { ...keyJson(key, pool), ...modelPolicyJson(key.policy) });
      const p = key.policy;
      const models = p.allowedModels === null ? 'all' : p.allowedModels.length === 0 ? 'none' : p.allowedModels.join(',');
      const reasoning = p.enforcedReasoningEffort ? `always ${p.enforcedReasoningEffort}` : p.maximumReasoningEffort ? `up to ${p.maximumReasoningEffort}` : 'unrestricted';
      ctx.io.stdout(
        `updated key ${key.prefix}: pool ${pool}, label ${key.label ? JSON.stringify(key.label) : 'none'}, state ${key.state}, expires ${key.expiresAt ? key.expiresAt.toISOString() : 'never'}\n` +
          `  models ${models}, enforced model ${p.enforcedModel ?? 'none'}, reasoning ${reasoning}, service tier ${p.serviceTier ?? 'client'}\n`,
      );
    });

  keys
    .command('delete')
    .description('delete a key for good, with its limits, request history and ledger rows')
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .requiredOption('--confirm <prefix>', 'the key prefix (sk-cxp-<12 hex>), typed to confirm')
    .action(async (ref: string, options: { confirm: string }) => {
      const key = await deleteApiKey(await ctx.deps(), cliActor(), ref, options.confirm);
      ctx.io.stdout(`deleted key ${key.prefix}\n`);
    });

  keys
    .command('limits')
    .description("show a key's limits, or change them for all models or one model (enforced before anything is sent upstream)")
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .option('--model <model>', 'limits for this model only (else the default for every model)')
    .option('--rpm <n>', 'requests per rolling minute (none removes it)', parseLimitFlag)
    .option('--tokens-per-day <n>', 'tokens per UTC day (none removes it)', parseLimitFlag)
    .option('--tokens-per-week <n>', 'tokens per rolling 7 days (none removes it)', parseLimitFlag)
    .option('--max-input-tokens <n>', 'estimated input tokens per request (none removes it)', parseLimitFlag)
    .option('--max-output-tokens <n>', 'requested output tokens per request (none removes it)', parseLimitFlag)
    .option('--remove', "remove the binding: the default limits, or with --model that model's limits")
    .option('--clear', 'same as --remove')
    .option('--json', "print the key's limits as a JSON array")
    .action(async (ref: string, options: { model?: string; rpm?: LimitFlag; tokensPerDay?: LimitFlag; tokensPerWeek?: LimitFlag; maxInputTokens?: LimitFlag; maxOutputTokens?: LimitFlag; remove?: boolean; clear?: boolean; json?: boolean }) => {
      const value = (flag: LimitFlag | undefined) => (flag === 'none' ? null : flag);
      const values = { max_requests_per_minute: value(options.rpm), max_tokens_per_day: value(options.tokensPerDay), max_tokens_per_week: value(options.tokensPerWeek), max_input_tokens_per_request: value(options.maxInputTokens), max_output_tokens_per_request: value(options.maxOutputTokens) };
      const changes = Object.values(values).some((v) => v !== undefined);
      const remove = Boolean(options.remove || options.clear);
      if (remove && changes) throw new CliFailure('--remove takes no limit values', EXIT_USAGE);
      const deps = await ctx.deps();
      if (!changes && !remove) {
        if (options.model !== undefined) throw new CliFailure('--model needs limit values or --remove', EXIT_USAGE);
        // No change asked: show what the key has.
        return printLimits(ctx, await getKeyLimits(deps.db, ref), options.json);
      }
      printLimits(ctx, await setKeyLimits(deps, cliActor(), ref, { model: options.model ?? null, ...values, clear: remove }), options.json);
    });
}
