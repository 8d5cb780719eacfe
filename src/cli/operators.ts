import type { Command } from 'commander';
import { cliActor } from '../audit/index.ts';
import { bootstrapOwner } from '../operators/index.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { CliFailure } from './io.ts';

export function registerOperatorCommands(program: Command, ctx: OperatorContext): void {
  const operators = program.command('operators').description(OPERATOR_GROUP_DESCRIPTIONS.operators);

  operators
    .command('bootstrap')
    .description('create the instance owner (once); the password is the first line of stdin')
    .requiredOption('--email <email>', "the owner's email address")
    .action(async (options: { email: string }) => {
      const { db } = await ctx.deps();
      const password = await ctx.io.readStdin('line');
      if (password === '') throw new CliFailure(`operators bootstrap reads the password from the first line of stdin, e.g. printf '%s\\n' "$PASSWORD" | codex-pooler operators bootstrap --email ${options.email}`);
      try {
        const owner = await bootstrapOwner(db, cliActor(), { email: options.email, password });
        ctx.io.stdout(`created instance owner ${owner.email}; sign in at /login\n`);
      } catch (error) {
        if ((error as { code?: string }).code === 'bootstrap_completed') {
          throw new CliFailure('bootstrap is already completed: the instance owner exists (sign in, or manage operators from the admin UI)');
        }
        throw error;
      }
    });
}
