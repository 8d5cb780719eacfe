import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';

/** How much of stdin a command consumes: nothing, the first line (a password), or all of it (a file). */
export type StdinNeed = 'none' | 'line' | 'all';

/**
 * Where a command's input comes from and its output goes. The CLI binds it to the process; the
 * control listener binds it to buffers and to the text the remote CLI sent, so a command prints
 * exactly the same thing either way.
 */
export interface CliIo {
  /** Directory relative file arguments resolve against (the invoking shell's cwd). */
  readonly cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(need: Exclude<StdinNeed, 'none'>): Promise<string>;
}

/** Exit codes: 0 success, 1 operational failure, 2 usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure the CLI reports as one `codex-pooler: <message>` line. */
export class CliFailure extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_FAILURE) {
    super(message);
    this.name = 'CliFailure';
    this.exitCode = exitCode;
  }
}

export function firstLine(text: string): string {
  const newline = text.indexOf('\n');
  return (newline === -1 ? text : text.slice(0, newline)).replace(/\r$/, '');
}

/** Reads a file argument; `-` means stdin. Relative paths resolve against the caller's cwd. */
export async function readInputFile(io: CliIo, path: string): Promise<string> {
  if (path === '-') return io.readStdin('all');
  const absolute = isAbsolute(path) ? path : resolve(io.cwd, path);
  try {
    return await readFile(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new CliFailure(`cannot read ${path}: ${reason}`);
  }
}

/** Reads the process's stdin: all of it, or up to the first newline (then stops reading). */
export function readProcessStdin(need: Exclude<StdinNeed, 'none'>, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    const finish = () => {
      stdin.off('data', onData);
      stdin.off('end', finish);
      stdin.off('error', onError);
      stdin.pause();
      const text = Buffer.concat(chunks).toString('utf8');
      resolvePromise(need === 'line' ? firstLine(text) : text);
    };
    const onData = (chunk: Buffer | string) => {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      if (need === 'line' && chunks[chunks.length - 1]!.includes(0x0a)) finish();
    };
    const onError = (error: Error) => reject(error);
    stdin.on('data', onData);
    stdin.once('end', finish);
    stdin.once('error', onError);
    stdin.resume();
  });
}

export function processIo(): CliIo {
  return {
    cwd: process.cwd(),
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin: (need) => {
      if (process.stdin.isTTY) {
        process.stderr.write(need === 'line' ? 'codex-pooler: type the value and press Enter (input is visible; prefer piping it)\n' : 'codex-pooler: reading stdin until Ctrl-D\n');
      }
      return readProcessStdin(need);
    },
  };
}

/** An io that records output; stdin is the text given (a remote CLI's, or empty). */
export function bufferedIo(options: { cwd: string; stdin?: string | null }): CliIo & { out: string; err: string } {
  const io = {
    cwd: options.cwd,
    out: '',
    err: '',
    stdout(text: string) {
      io.out += text;
    },
    stderr(text: string) {
      io.err += text;
    },
    async readStdin(need: Exclude<StdinNeed, 'none'>) {
      const text = options.stdin ?? '';
      return need === 'line' ? firstLine(text) : text;
    },
  };
  return io;
}
