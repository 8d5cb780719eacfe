import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The real launcher, run with the `node` found on PATH, exactly as an operator runs it. */
export const BIN = fileURLToPath(new URL('../../bin/codex-pooler', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type Env = Record<string, string | undefined>;

/**
 * A small explicit environment: nothing from the outer shell (DATABASE_URL, PORT, …) leaks into a
 * spawned process. `undefined` removes a variable.
 */
export function poolerEnv(overrides: Env = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', LOG_LEVEL: 'info' };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Valid secrets for DATABASE_URL mode (embedded mode generates its own). */
export function testSecrets(): Env {
  return {
    SECRET_KEY_BASE: randomBytes(48).toString('base64'),
    CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString('base64'),
    CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
}

export type LogLine = Record<string, unknown> & { msg?: string };
export type Exit = { code: number | null; signal: NodeJS.Signals | null };

const running = new Set<ChildProcess>();

function track(child: ChildProcess): Promise<Exit> {
  running.add(child);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
}

/** A long-running `codex-pooler` process (a role) whose JSON log lines on stderr tests can wait for. */
export class PoolerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  #exit: Exit | null = null;
  #listeners = new Set<() => void>();

  constructor(args: readonly string[], env: NodeJS.ProcessEnv, options: { cwd?: string } = {}) {
    this.child = spawn('node', [BIN, ...args], { env, cwd: options.cwd ?? REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = track(this.child).then((exit) => {
      this.#exit = exit;
      this.#notify();
      return exit;
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.#notify();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Every stderr line that parses as a JSON object (pino's log lines). */
  logs(): LogLine[] {
    const lines: LogLine[] = [];
    for (const line of this.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // a partial last line
      }
    }
    return lines;
  }

  /** Resolves with the first log line matching; rejects when the process exits first or time runs out. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number, what = 'log line'): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.logs().find(predicate);
        if (found) return done(() => resolve(found));
        if (this.#exit) return done(() => reject(new Error(`process exited (${JSON.stringify(this.#exit)}) before ${what}\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${what} within ${timeoutMs} ms\n${this.tail()}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        settle();
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Waits for the `listening` log line and answers the port it names (tests listen on PORT=0). */
  async waitForListening(timeoutMs = 60_000): Promise<number> {
    const line = await this.waitForLog((l) => l.msg === 'listening' && typeof l.port === 'number', timeoutMs, '"listening" log line');
    return line.port as number;
  }

  /** Sends a signal and answers the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    if (!this.#exit) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process ${this.pid} did not exit within ${timeoutMs} ms after ${signal}\n${this.tail()}`)), timeoutMs);
    });
    try {
      return (await Promise.race([this.exited, timeout])).code;
    } finally {
      clearTimeout(timer);
    }
  }

  tail(lines = 15): string {
    return this.stderr.trimEnd().split('\n').slice(-lines).join('\n');
  }
}

export function startPooler(args: readonly string[], env: NodeJS.ProcessEnv, options: { cwd?: string } = {}): PoolerProcess {
  return new PoolerProcess(args, env, options);
}

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs one CLI command to completion, feeding `input` on stdin. */
export async function runPooler(args: readonly string[], options: { env: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number }): Promise<CliResult> {
  const child = spawn('node', [BIN, ...args], { env: options.env, cwd: options.cwd ?? REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = track(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.on('error', () => {}); // the command may exit without reading stdin
  child.stdin!.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  if (signal) throw new Error(`codex-pooler ${args.join(' ')} was killed (${signal}) after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`);
  return { code, stdout, stderr };
}

/** SIGKILLs whatever a test left running; for afterAll. */
export async function killAllPoolers(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** TCP ports a process listens on (Linux: its socket inodes matched against /proc/net/tcp{,6}). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT, st 0A = LISTEN, inode is the tenth field
      if (fields.length > 9 && fields[3] === '0A' && inodes.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body };
}
