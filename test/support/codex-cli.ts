import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** A hard limit for one `codex exec`; its whole process group is killed after it. */
export const CODEX_TIMEOUT_MS = 60_000;

/** The native binary when it is there (no Node launcher in between), else the npm launcher. */
export function codexExecutable(): string {
  if (process.platform === 'linux') {
    const [pkg, triple] = process.arch === 'arm64' ? ['codex-linux-arm64', 'aarch64-unknown-linux-musl'] : ['codex-linux-x64', 'x86_64-unknown-linux-musl'];
    const native = join(ROOT, 'node_modules', '@openai', pkg, 'vendor', triple, 'bin', 'codex');
    if (existsSync(native)) return native;
  }
  return join(ROOT, 'node_modules', '.bin', 'codex');
}

export type RunResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; timedOut: boolean };

/** Runs the CLI with stdin closed; after CODEX_TIMEOUT_MS its whole process group is killed. */
export function runCodex(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(codexExecutable(), args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, CODEX_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut });
    });
  });
}
