import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, type CliIo } from './io.ts';

/**
 * Every program this CLI builds: output through `io` (so the control channel can capture it),
 * errors thrown instead of exiting, the usage printed after a usage error. Configure before adding
 * subcommands: commander copies these settings to each subcommand as it is created.
 */
export function newProgram(io: CliIo): Command {
  return new Command('codex-pooler')
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'codex-pooler: ')),
    })
    .exitOverride()
    .showHelpAfterError(true)
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
}

/** Help and version asked for are success; anything else commander rejects is a usage error. */
export function commanderExitCode(error: CommanderError): number {
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
  return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
}

export { CommanderError };
