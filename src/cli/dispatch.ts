import { loadConfig, type Config } from '../config/index.ts';
import { EmbeddedDatabaseBusyError, openDatabase } from '../db/index.ts';
import { createLogger } from '../http/logger.ts';
import { embeddedHolder, requestOperatorCommand, ControlUnreachableError, type ControlEndpoint, type OperatorResponse } from '../runtime/client.ts';
import type { InvokeResult, OperatorDeps, OperatorDepsProvider, OperatorInvoker } from './context.ts';
import { CliFailure, type CliIo, type StdinNeed } from './io.ts';
import { HandedOff, localInvoker, runOperatorCommand } from './operator.ts';

/** Where this CLI's commands run: inside the server holding the embedded database, or here. */
type Backend = { kind: 'server'; endpoint: ControlEndpoint } | { kind: 'local'; deps: OperatorDeps };

/** Runs a command line inside the server over the control channel; answers what it printed. */
async function sendToServer(endpoint: ControlEndpoint, argv: readonly string[], stdin: string | null, cwd: string): Promise<OperatorResponse> {
  try {
    return await requestOperatorCommand(endpoint, { argv: [...argv], stdin, cwd });
  } catch (error) {
    if (error instanceof ControlUnreachableError) {
      throw new CliFailure(`the embedded database is in use by process ${endpoint.pid}, but its control channel did not answer; retry, or stop that process`);
    }
    throw error;
  }
}

/** Sends the command line (and the stdin it reads) to the server holding the embedded database. */
async function forward(endpoint: ControlEndpoint, argv: readonly string[], need: StdinNeed, io: CliIo): Promise<number> {
  const stdin = need === 'none' ? null : await io.readStdin(need);
  const response = await sendToServer(endpoint, argv, stdin, io.cwd);
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

/** Finds the server to forward to, or opens the database here (closed through `opened`). */
async function openBackend(env: NodeJS.ProcessEnv, io: CliIo, opened: { close?: () => Promise<void> }): Promise<Backend> {
  const config = await loadConfig(env, (message) => io.stderr(`codex-pooler: ${message}\n`));
  if (config.database.kind === 'embedded') {
    const endpoint = await serverEndpoint(config);
    if (endpoint) return { kind: 'server', endpoint };
  }
  let handle;
  try {
    handle = await openDatabase(config.database, { onError: () => {} });
  } catch (error) {
    // A server took the lock between the look and the open.
    const endpoint = error instanceof EmbeddedDatabaseBusyError ? await serverEndpoint(config) : null;
    if (endpoint) return { kind: 'server', endpoint };
    throw error;
  }
  const verbose = config.logLevel === 'debug' || config.logLevel === 'trace';
  const { createServices } = await import('../services.ts');
  const services = createServices(config, handle, createLogger({ level: verbose ? config.logLevel : 'warn' }));
  opened.close = async () => {
    await services.close();
    await handle.close();
  };
  return { kind: 'local', deps: { db: services.db, notifier: services.notifier, accountDeps: services.accountDeps } };
}

/**
 * An operator command typed at the shell. With DATABASE_URL it opens PostgreSQL. On the embedded
 * database it opens the database itself, unless a server holds it: then the command runs inside
 * that server over the control channel and its output is printed here unchanged. Commands that
 * invoke other commands (`ctx.invoke`) reach the same place: the database opened here, or the server.
 */
export async function runOperatorCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const opened: { close?: () => Promise<void> } = {};
  let backend: Promise<Backend> | null = null;
  const connect = () => (backend ??= openBackend(env, io, opened));

  const provide: OperatorDepsProvider = async ({ stdin }) => {
    const found = await connect();
    if (found.kind === 'server') throw new HandedOff(await forward(found.endpoint, argv, stdin, io));
    return found.deps;
  };
  const invoke: OperatorInvoker = async (commandArgv, stdin = null): Promise<InvokeResult> => {
    const found = await connect();
    if (found.kind === 'local') return localInvoker(async () => found.deps, io.cwd)(commandArgv, stdin);
    const response = await sendToServer(found.endpoint, commandArgv, stdin, io.cwd);
    return { exitCode: response.exit_code, stdout: response.stdout, stderr: response.stderr };
  };
  try {
    return await runOperatorCommand(argv, io, provide, invoke);
  } finally {
    await opened.close?.().catch(() => {});
  }
}
