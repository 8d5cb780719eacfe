import type { Command } from 'commander';
import type { OperatorDepsOfServer, OperatorRequest, OperatorResponse, RolePlan } from '../runtime/index.ts';
import { bufferedIo, type CliIo } from './io.ts';
import { VERSION } from './version.ts';

export type RoleCommandContext = { env: NodeJS.ProcessEnv; io: CliIo; setExitCode(code: number): void };

/** The control listener's side of an operator command: same runner, output captured for the caller. */
async function runOperatorForControl(request: OperatorRequest, deps: OperatorDepsOfServer): Promise<OperatorResponse> {
  const { runOperatorCommand } = await import('./operator.ts');
  const io = bufferedIo({ cwd: request.cwd, stdin: request.stdin });
  const exitCode = await runOperatorCommand(request.argv, io, async () => deps);
  return { stdout: io.out, stderr: io.err, exit_code: exitCode };
}

async function run(ctx: RoleCommandContext, plan: RolePlan | ((env: NodeJS.ProcessEnv) => RolePlan)): Promise<void> {
  const { runRole } = await import('../runtime/index.ts');
  const resolved = typeof plan === 'function' ? plan(ctx.env) : plan;
  ctx.setExitCode(await runRole(resolved, { env: ctx.env, version: VERSION, runOperator: runOperatorForControl }));
}

export function registerRoleCommands(program: Command, ctx: RoleCommandContext): void {
  program
    .command('serve')
    .description('web role: the HTTP gateway, admin API and health probes (enqueues jobs, never runs them)')
    .action(() => run(ctx, { role: 'web', http: true, migrate: false }));

  program
    .command('worker')
    .description('worker role: runs background jobs; no HTTP port (needs DATABASE_URL)')
    .action(() => run(ctx, { role: 'worker', http: false, migrate: false }));

  program
    .command('scheduler')
    .description('scheduler role: cron schedules and queue maintenance; no HTTP port (needs DATABASE_URL)')
    .action(() => run(ctx, { role: 'scheduler', http: false, migrate: false }));

  program
    .command('all')
    .description('migrate, then web + worker + scheduler in one process (what `npm start` runs)')
    .action(() => run(ctx, { role: 'all', http: true, migrate: true }));

  program
    .command('start')
    .description('the role named by OBAN_MODE (web|worker|scheduler|all; default web), HTTP only when PHX_SERVER=true; also a bare `codex-pooler`')
    .action(async () => {
      const { roleFromObanMode } = await import('../runtime/index.ts');
      await run(ctx, (env) => ({ role: roleFromObanMode(env.OBAN_MODE), http: null, migrate: false }));
    });

  program
    .command('migrate')
    .description('apply database migrations, then import the vendored pricing feed, and exit')
    .action(async () => {
      const { runMigrations } = await import('../runtime/index.ts');
      ctx.io.stdout(await runMigrations(ctx.env));
    });

  program
    .command('drain')
    .description('ask the running server to drain (/readyz answers 503) before it is stopped')
    .action(async () => {
      const { runDrain } = await import('./drain.ts');
      ctx.setExitCode(await runDrain(ctx.env, ctx.io));
    });
}
