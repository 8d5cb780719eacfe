import type { Db, Notifier } from '../db/index.ts';
import type { RoutingState } from '../routing/index.ts';
import type { AccountDeps } from '../upstreams/index.ts';
import type { CliIo, StdinNeed } from './io.ts';

/** What operator commands need from a process: the database, cache invalidation, upstream access. */
export type OperatorDeps = { db: Db; notifier: Notifier; accountDeps: AccountDeps; /** A running server's routing state (circuits, demotions); absent in a one-off CLI process. */ routing?: RoutingState };

/**
 * Supplies dependencies once a command line parsed. `stdin` says how much of stdin the chosen
 * command reads, so a CLI that forwards the command to a running server can send it along.
 */
export type OperatorDepsProvider = (request: { stdin: StdinNeed }) => Promise<OperatorDeps>;

/** What another operator command printed, and how it exited (0 success, 1 failure, 2 usage). */
export type InvokeResult = { exitCode: number; stdout: string; stderr: string };

/**
 * Runs another operator command line where this process runs its commands: here on the database
 * it opened, or inside the server holding the embedded database. Output is captured, not printed.
 * Lets an interactive command (`accounts login`) stay in the operator's terminal while each step
 * it takes is a short command that completes at once.
 */
export type OperatorInvoker = (argv: readonly string[], stdin?: string | null) => Promise<InvokeResult>;

/** Handed to each command group: parse and format there, do the work in the domain services. */
export type OperatorContext = { io: CliIo; deps(): Promise<OperatorDeps>; invoke: OperatorInvoker };
