import type { Command } from 'commander';
import { apiKeyRefColumn } from '../api-keys/index.ts';
import { findPool } from '../pools/index.ts';
import { explainForPool, RoutingState } from '../routing/index.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { dash, formatTable, printJson } from './format.ts';

export function registerRoutingCommands(program: Command, ctx: OperatorContext): void {
  const routing = program.command('routing').description(OPERATOR_GROUP_DESCRIPTIONS.routing);
  routing
    .command('explain')
    .description('show the route plan for a pool: candidates in order, why each is or is not eligible, quota, score, affinity')
    .requiredOption('--pool <pool>', 'pool slug or id')
    .option('--model <model>', 'model of the request', 'gpt-5.4')
    .option('--session <id>', 'a Codex session id (the session_id header)')
    .option('--prompt-cache-key <key>', 'a prompt_cache_key')
    .option('--key <key>', 'key id or prefix whose session seed and demotions to use')
    .option('--json', 'print the explanation as JSON')
    .action(async (options: { pool: string; model: string; session?: string; promptCacheKey?: string; key?: string; json?: boolean }) => {
      const deps = await ctx.deps();
      const pool = await findPool(deps.db, options.pool);
      let apiKeyId: string | null = null;
      if (options.key) {
        const row = await deps.db.selectFrom('api_keys').select('id').where(apiKeyRefColumn(options.key) ?? 'key_prefix', '=', options.key.trim()).where('pool_id', '=', pool.id).executeTakeFirst();
        if (!row) throw new Error(`api key ${options.key} is not in pool ${pool.slug}`);
        apiKeyId = row.id;
      }
      // Inside a running server this is its live routing state; a one-off process sees the database only.
      const state = deps.routing ?? new RoutingState({ db: deps.db, notifier: deps.notifier, log: deps.accountDeps.log });
      const explanation = await explainForPool(state, { poolId: pool.id, apiKeyId, model: options.model, session: options.session ?? null, promptCacheKey: options.promptCacheKey ?? null });
      if (options.json) return printJson(ctx.io, explanation);
      ctx.io.stdout(`pool ${pool.slug}: strategy ${explanation.strategy}, ring size ${explanation.ring_size}, affinity ${explanation.affinity.kind} (seed: ${explanation.affinity.seed})\n`);
      if (explanation.moved) ctx.io.stdout(`the preferred account ${explanation.moved.from} is skipped: ${explanation.moved.reason}\n`);
      if (explanation.candidates.length === 0) return ctx.io.stdout(`no accounts: import one with \`codex-pooler accounts import --pool ${pool.slug} auth.json\`\n`);
      ctx.io.stdout(
        formatTable(
          ['RANK', 'ACCOUNT', 'LABEL', 'REASON', 'PRIMARY %', 'WEEKLY %', 'SCORE', 'COOLDOWN UNTIL'],
          explanation.candidates.map((c) => [dash(c.rank), c.assignment_id, c.label, c.reason, dash(c.quota.primary_used_percent), dash(c.quota.secondary_used_percent), c.score, dash(c.cooldown_until)]),
        ),
      );
    });
}
