import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from './fake-upstream.ts';
import { seedPool, startGateway, type SeededPool, type TestGateway } from './gateway.ts';

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

const VERBOSE = Boolean(process.env.CODEX_CLI_TEST_VERBOSE);

/** What reached the gateway's socket: `status` once an HTTP response finished (never for upgrades). */
export type GatewayHit = { method: string; path: string; upgrade: boolean; authorization: string | undefined; status?: number };

/** Observes (never answers) what reaches `server`, websocket upgrade attempts included; the array fills as requests arrive. */
export function recordGatewayHits(server: Server): GatewayHit[] {
  const hits: GatewayHit[] = [];
  const record = (request: IncomingMessage, response?: ServerResponse) => {
    const hit: GatewayHit = {
      method: request.method ?? '',
      path: (request.url ?? '').split('?')[0]!,
      upgrade: (request.headers.upgrade ?? '').toLowerCase() === 'websocket',
      authorization: request.headers.authorization,
    };
    hits.push(hit);
    response?.on('finish', () => (hit.status = response.statusCode));
  };
  server.prependListener('request', record);
  // Only when something serves upgrades: a lone 'upgrade' listener would swallow the request.
  if (server.listenerCount('upgrade') > 0) server.prependListener('upgrade', (request: IncomingMessage) => record(request));
  return hits;
}

/** A gateway on the fake upstream whose socket traffic is recorded, and a scratch folder for CODEX_HOMEs. */
export type CodexCliGateway = { upstream: FakeUpstream; gateway: TestGateway; hits: GatewayHit[]; scratch: string; close(): Promise<void> };

export async function startCodexCliGateway(databaseUrl: string, scratchPrefix: string): Promise<CodexCliGateway> {
  const upstream = await startFakeUpstream();
  const gateway = await startGateway({ databaseUrl, upstream }).catch(async (error: unknown) => {
    await upstream.close();
    throw error;
  });
  const hits = recordGatewayHits(gateway.app.server);
  const scratch = await mkdtemp(join(tmpdir(), scratchPrefix));
  return {
    upstream,
    gateway,
    hits,
    scratch,
    async close() {
      await gateway.close();
      await upstream.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** One `codex exec` on its own pool, what the gateway and the upstream saw during it, and a failure message telling all of it. */
export type CodexExec = { seeded: SeededPool; args: string[]; result: RunResult; gatewaySeen: GatewayHit[]; upstreamSeen: RecordedRequest[]; diagnostics: () => string };

/**
 * Seeds a one-account pool named after `label` whose upstream answers `reply`, then runs
 * `codex exec <prompt>` with the pool's key in CODEX_POOLER_KEY and a fresh HOME and CODEX_HOME
 * (in `label`'s scratch folder) holding `configToml` (given the gateway's origin), and flushes the
 * request log. `describeUpstream` adds per-test detail to each upstream request in the diagnostics.
 */
export async function runCodexExec(
  cli: CodexCliGateway,
  options: { label: string; reply: string; configToml: (origin: string) => string; prompt: string; describeUpstream?: (request: RecordedRequest) => string },
): Promise<CodexExec> {
  const seeded = await seedPool(cli.gateway, cli.upstream, 1, options.label);
  cli.upstream.setReply(options.reply);
  const root = join(cli.scratch, options.label);
  const home = join(root, 'home');
  const codexHome = join(home, '.codex');
  const workdir = join(root, 'work');
  await mkdir(codexHome, { recursive: true });
  await mkdir(workdir, { recursive: true });
  await writeFile(join(codexHome, 'config.toml'), options.configToml(cli.gateway.url));

  const upstreamBefore = cli.upstream.requests.length;
  const gatewayBefore = cli.hits.length;
  const args = ['exec', '--strict-config', '--skip-git-repo-check', '--ephemeral', '--sandbox', 'read-only', '--color', 'never', options.prompt];
  // Nothing from the test process leaks in: no OPENAI_API_KEY, no CODEX_API_KEY, no real ~/.codex.
  const result = await runCodex(args, {
    cwd: workdir,
    env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, CODEX_HOME: codexHome, CODEX_POOLER_KEY: seeded.key },
  });
  await cli.gateway.services.requestLog.flush();
  const upstreamSeen = cli.upstream.requests.slice(upstreamBefore);
  const gatewaySeen = cli.hits.slice(gatewayBefore);
  const describeUpstream = options.describeUpstream ?? (() => '');
  const diagnostics = () =>
    [
      `[${options.label}] codex ${args.join(' ')}`,
      `exit=${result.code} signal=${result.signal} timedOut=${result.timedOut} in ${result.ms} ms`,
      `--- stdout\n${result.stdout}`,
      `--- stderr\n${result.stderr}`,
      `--- gateway saw\n${gatewaySeen.map((h) => `${h.method} ${h.path} -> ${h.status ?? '?'}${h.upgrade ? ' (websocket upgrade)' : ''}`).join('\n')}`,
      `--- upstream saw\n${upstreamSeen.map((r) => `${r.method} ${r.path} ${r.transport} account=${r.accountId} ${describeUpstream(r)}`).join('\n')}`,
    ].join('\n');
  if (VERBOSE) console.info(diagnostics());
  return { seeded, args, result, gatewaySeen, upstreamSeen, diagnostics };
}
