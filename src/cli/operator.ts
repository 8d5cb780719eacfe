import type { Command } from 'commander';
import { createLogger } from '../http/logger.ts';
import { registerAccountCommands } from './accounts.ts';
import { CommanderError, commanderExitCode, newProgram } from './commander.ts';
import type { OperatorContext, OperatorDeps, OperatorDepsProvider } from './context.ts';
import { errorLine, exitCodeOf } from './errors.ts';
import { EXIT_OK, type CliIo, type StdinNeed } from './io.ts';
import { registerInviteCommands } from './invites.ts';
import { registerKeyCommands } from './keys.ts';
import { registerMetricsCommands } from './metrics.ts';
import { registerOperatorCommands } from './operators.ts';
import { registerPoolCommands } from './pools.ts';
import { registerPricingCommands } from './pricing.ts';
import { registerUsageCommand } from './usage.ts';
import { registerRoutingCommands } from './routing.ts';

/** The command ran somewhere else (a running server) and its output is already printed. */
export class HandedOff extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super('handed off');
    this.name = 'HandedOff';
    this.exitCode = exitCode;
  }
}

export function registerOperatorGroups(program: Command, ctx: OperatorContext): void {
  registerPoolCommands(program, ctx);
  registerAccountCommands(program, ctx);
  registerInviteCommands(program, ctx);
  registerKeyCommands(program, ctx);
  registerOperatorCommands(program, ctx);
  registerPricingCommands(program, ctx);
  registerUsageCommand(program, ctx);
  registerRoutingCommands(program, ctx);
  registerMetricsCommands(program, ctx);
}

/** How much stdin the parsed command will read: a forwarding CLI sends exactly that along. */
export function stdinNeedOf(action: Command): StdinNeed {
  const path = `${action.parent?.name() ?? ''} ${action.name()}`;
  if (path === 'operators bootstrap') return 'line';
  if (path === 'accounts import' && action.args[0] === '-') return 'all';
  // The browser sign-in reads the pasted callback address (a forwarding CLI sends its first stdin line).
  if ((path === 'accounts login' || path === 'accounts reauth') && !action.opts().device) return 'line';
  if (path === 'pricing import' && action.args[0] === '-') return 'all';
  if (path === 'metrics set-token' && !action.opts().generate) return 'line';
  return 'none';
}

/** Warnings of the work a command triggers (an account that could not be primed) reach whoever ran it. */
function withCommandLogger(deps: OperatorDeps, io: CliIo): OperatorDeps {
  const log = createLogger({ level: 'warn', destination: { write: (line: string) => io.stderr(line) } as unknown as NodeJS.WritableStream });
  return { ...deps, accountDeps: { ...deps.accountDeps, log } };
}

/**
 * Runs one operator command line (`pools list --json`, …) and answers its exit code. The CLI calls
 * it with the process's io and a provider that opens the database (or forwards to a running
 * server); the control listener calls it with buffers and the server's own services. Same parser,
 * same formatting, so both print exactly the same thing.
 */
export async function runOperatorCommand(argv: readonly string[], io: CliIo, getDeps: OperatorDepsProvider): Promise<number> {
  const program = newProgram(io).description('codex-pooler operator commands');
  let need: StdinNeed = 'none';
  let deps: Promise<OperatorDeps> | null = null;
  const ctx: OperatorContext = {
    io,
    deps: () => (deps ??= getDeps({ stdin: need }).then((d) => withCommandLogger(d, io))),
  };
  program.hook('preAction', (_root, action) => {
    need = stdinNeedOf(action);
  });
  registerOperatorGroups(program, ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExitCode(error);
    if (error instanceof HandedOff) return error.exitCode;
    io.stderr(errorLine(error));
    return exitCodeOf(error);
  }
}
