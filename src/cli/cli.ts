import { CommanderError, commanderExitCode, newProgram } from './commander.ts';
import { OPERATOR_GROUP_DESCRIPTIONS, OPERATOR_GROUPS } from './groups.ts';
import { EXIT_OK, processIo, type CliIo } from './io.ts';
import { registerRoleCommands } from './roles.ts';
import { VERSION } from './version.ts';

const HELP_FOOTER = `
With no command, runs \`start\`. Without DATABASE_URL everything lives in an embedded
database under CODEX_POOLER_DATA_DIR (default ./data): run \`all\` there; operator
commands reach a running server through its loopback control channel.
Exit codes: 0 success, 1 failure, 2 usage. Configuration: docs/configuration.md
`;

/**
 * The whole command line. Operator commands (pools, accounts, keys, operators) go to the one
 * runner the control channel uses too; roles and the rest parse here. Heavy modules load only
 * once a command needs them, so `--help` and usage errors answer fast.
 */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io: CliIo = processIo()): Promise<number> {
  let args = argv.length === 0 ? ['start'] : [...argv];
  if (args[0] === 'help' && args[1] !== undefined && OPERATOR_GROUPS.has(args[1])) args = [...args.slice(1), '--help'];
  if (OPERATOR_GROUPS.has(args[0]!)) {
    const { runOperatorCli } = await import('./dispatch.ts');
    return runOperatorCli(args, env, io);
  }

  let exitCode = EXIT_OK;
  const program = newProgram(io)
    .description('Self-hosted gateway that pools ChatGPT/Codex accounts behind stable Pool API keys.')
    .version(VERSION, '-V, --version', 'print the version')
    .addHelpText('after', HELP_FOOTER);
  registerRoleCommands(program, { env, io, setExitCode: (code) => (exitCode = code) });
  // Listed for --help only: their command lines never reach this parser (see above).
  for (const [name, description] of Object.entries(OPERATOR_GROUP_DESCRIPTIONS)) program.command(name).description(`${description} (\`${name} --help\`)`);

  try {
    await program.parseAsync(args, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExitCode(error);
    const { errorLine, exitCodeOf } = await import('./errors.ts');
    io.stderr(errorLine(error));
    return exitCodeOf(error);
  }
}
