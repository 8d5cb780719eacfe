import type { Command } from 'commander';
import { createLogger } from '../http/logger.ts';
import { registerAccountCommands } from './accounts.ts';
import { CommanderError, commanderExitCode, newProgram } from './commander.ts';
import type { OperatorContext, OperatorDeps, OperatorDepsProvider, OperatorInvoker } from './context.ts';
import { errorLine, exitCodeOf } from './errors.ts';
import { bufferedIo, EXIT_OK, type CliIo, type StdinNeed } from './io.ts';
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
  // `accounts login` / `reauth` read the pasted address themselves, in the operator's terminal:
  // they run client-side and never forward (see account-login.ts). Only this step can take stdin.
  if (path === 'accounts oauth-complete' && action.args[1] === '-') return 'line';
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
 * Runs command lines in this process, capturing their output: the invoker of a process that holds
 * the database itself (a CLI on PostgreSQL or on an idle embedded database, or the server running a
 * forwarded command). `getDeps` is called once per command, so it must hand out the same handle.
 */
export function localInvoker(getDeps: OperatorDepsProvider, cwd: string): OperatorInvoker {
  const invoke: OperatorInvoker = async (argv, stdin = null) => {
    const io = bufferedIo({ cwd, stdin });
    const exitCode = await runOperatorCommand(argv, io, getDeps, invoke);
    return { exitCode, stdout: io.out, stderr: io.err };
  };
  return invoke;
}

/**
 * Runs one operator command line (`pools list --json`, …) and answers its exit code. The CLI calls
 * it with the process's io and a provider that opens the database (or forwards to a running
 * server); the control listener calls it with buffers and the server's own services. Same parser,
 * same formatting, so both print exactly the same thing. `invoke` runs further command lines in
 * the same place (default: in this process, on `getDeps`).
 */
export async function runOperatorCommand(argv: readonly string[], io: CliIo, getDeps: OperatorDepsProvider, invoke: OperatorInvoker = localInvoker(getDeps, io.cwd)): Promise<number> {
  const program = newProgram(io).description('codex-pooler operator commands');
  let need: StdinNeed = 'none';
  let deps: Promise<OperatorDeps> | null = null;
  const ctx: OperatorContext = {
    io,
    deps: () => (deps ??= getDeps({ stdin: need }).then((d) => withCommandLogger(d, io))),
    invoke,
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
