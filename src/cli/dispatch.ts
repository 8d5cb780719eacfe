import { loadConfig, type Config } from '../config/index.ts';
import { EmbeddedDatabaseBusyError, openDatabase } from '../db/index.ts';
import { createLogger } from '../http/logger.ts';
import { embeddedHolder, requestOperatorCommand, ControlUnreachableError, type ControlEndpoint } from '../runtime/client.ts';
import type { OperatorDeps } from './context.ts';
import { CliFailure, type CliIo, type StdinNeed } from './io.ts';
import { HandedOff, runOperatorCommand } from './operator.ts';

/** Sends the command line (and the stdin it reads) to the server holding the embedded database. */
async function forward(endpoint: ControlEndpoint, argv: readonly string[], need: StdinNeed, io: CliIo): Promise<number> {
  const stdin = need === 'none' ? null : await io.readStdin(need);
  let response;
  try {
    response = await requestOperatorCommand(endpoint, { argv: [...argv], stdin, cwd: io.cwd });
  } catch (error) {
    if (error instanceof ControlUnreachableError) {
      throw new CliFailure(`the embedded database is in use by process ${endpoint.pid}, but its control channel did not answer; retry, or stop that process`);
    }
    throw error;
  }
  io.stdout(response.stdout);
  io.stderr(response.stderr);
  return response.exit_code;
}

async function serverEndpoint(config: Config): Promise<ControlEndpoint | null> {
  const holder = await embeddedHolder(config.dataDir);
  if (holder.kind === 'server') return holder.endpoint;
  if (holder.kind === 'busy') {
    throw new CliFailure(`the embedded database in ${config.dataDir} is in use by process ${holder.pid}, which offers no control channel (a migrate run?); retry when it has finished`);
  }
  return null;
}

/**
 * An operator command typed at the shell. With DATABASE_URL it opens PostgreSQL. On the embedded
 * database it opens the database itself, unless a server holds it: then the command runs inside
 * that server over the control channel and its output is printed here unchanged.
 */
export async function runOperatorCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const opened: { close?: () => Promise<void> } = {};
  const provide = async ({ stdin }: { stdin: StdinNeed }): Promise<OperatorDeps> => {
    const config = await loadConfig(env, (message) => io.stderr(`codex-pooler: ${message}\n`));
    if (config.database.kind === 'embedded') {
      const endpoint = await serverEndpoint(config);
      if (endpoint) throw new HandedOff(await forward(endpoint, argv, stdin, io));
    }
    let handle;
    try {
      handle = await openDatabase(config.database, { onError: () => {} });
    } catch (error) {
      // A server took the lock between the look and the open.
      const endpoint = error instanceof EmbeddedDatabaseBusyError ? await serverEndpoint(config) : null;
      if (endpoint) throw new HandedOff(await forward(endpoint, argv, stdin, io));
      throw error;
    }
    const verbose = config.logLevel === 'debug' || config.logLevel === 'trace';
    const { createServices } = await import('../services.ts');
    const services = createServices(config, handle, createLogger({ level: verbose ? config.logLevel : 'warn' }));
    opened.close = async () => {
      await services.close();
      await handle.close();
    };
    return { db: services.db, notifier: services.notifier, accountDeps: services.accountDeps };
  };
  try {
    return await runOperatorCommand(argv, io, provide);
  } finally {
    await opened.close?.().catch(() => {});
  }
}
