import type { Command } from 'commander';
import { generateMetricsToken, setMetricsBearer } from '../metrics/index.ts';
import { systemScope } from '../operators/scope.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { CliFailure } from './io.ts';

/**
 * The /metrics bearer stored in instance settings (every replica reads it at each scrape). The
 * token is read from stdin, or generated and printed once; only its digest is stored.
 */
export function registerMetricsCommands(program: Command, ctx: OperatorContext): void {
  const metrics = program.command('metrics').description(OPERATOR_GROUP_DESCRIPTIONS.metrics);

  metrics
    .command('set-token')
    .description('protect /metrics with a bearer token: the first line of stdin, or --generate to create one (printed once)')
    .option('--generate', 'generate a random token and print it')
    .action(async (options: { generate?: boolean }) => {
      const deps = await ctx.deps();
      const token = options.generate ? generateMetricsToken() : await ctx.io.readStdin('line');
      if (token === '') throw new CliFailure(`metrics set-token reads the token from the first line of stdin, e.g. printf '%s\\n' "$TOKEN" | codex-pooler metrics set-token (or use --generate)`);
      const change = await setMetricsBearer({ db: deps.db, keyring: deps.accountDeps.keyring }, systemScope(), token);
      ctx.io.stdout(`/metrics now needs "Authorization: Bearer <token>" (fingerprint ${change.fingerprint}); a previous token no longer works\n`);
      if (options.generate) ctx.io.stdout(`${token}\n`);
    });

  metrics
    .command('clear-token')
    .description('remove the stored bearer token: /metrics becomes open (unless CODEX_POOLER_METRICS_TOKEN is set)')
    .action(async () => {
      const deps = await ctx.deps();
      const change = await setMetricsBearer({ db: deps.db, keyring: deps.accountDeps.keyring }, systemScope(), null);
      ctx.io.stdout(change.state === 'cleared' ? '/metrics bearer token removed; /metrics is open\n' : 'no /metrics bearer token was set\n');
    });
}
