import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { newControlToken, readControlFile, removeControlFile, writeControlFile, controlFilePath } from './control-file.ts';

/** Operator command lines are small; an auth.json is at most 64 kB. */
const MAX_BODY_BYTES = 1024 * 1024;
const CLOSE_GRACE_MS = 5_000;

export const OPERATOR_REQUEST = z.object({
  argv: z.array(z.string().max(100_000)).min(1).max(64),
  stdin: z.string().nullable(),
  cwd: z.string().min(1).max(4096),
});
export type OperatorRequest = z.infer<typeof OPERATOR_REQUEST>;
export type OperatorResponse = { stdout: string; stderr: string; exit_code: number };
export type DrainResponse = { pid: number; draining: true; already_draining: boolean };

export type ControlHandlers = {
  runOperator(request: OperatorRequest): Promise<OperatorResponse>;
  drain(): DrainResponse;
};

export type ControlServer = { port: number; close(): Promise<void> };

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time: both sides are hashed to equal length before the comparison. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (\S+)$/.exec(header ?? '');
  return timingSafeEqual(digest(match?.[1] ?? ''), expected) && match !== null;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RangeError('request body too large');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

/**
 * The loopback-only control listener of a serving process: `POST /v1/operator` runs an operator
 * command line in this process (the embedded database admits one process, so the CLI hands its
 * command over instead of opening the database) and `POST /v1/drain` starts draining. Requests
 * carry the random token published in `<dataDir>/control.json`.
 *
 * Answers null without listening when another live process already publishes a control file in
 * the same data directory (several servers sharing one directory on PostgreSQL).
 */
export async function startControlServer(options: { dataDir: string; role: string; log: Logger; handlers: ControlHandlers }): Promise<ControlServer | null> {
  const { dataDir, log, handlers } = options;
  const existing = await readControlFile(dataDir);
  if (existing && existing.pid !== process.pid) {
    log.warn({ path: controlFilePath(dataDir), pid: existing.pid }, 'control channel not started: another running process owns the control file in this data directory');
    return null;
  }
  const token = newControlToken();
  const expected = digest(token);

  const server = createServer((req, res) => {
    void (async () => {
      if (!tokenMatches(req.headers.authorization, expected)) return send(res, 401, { error: 'unauthorized' });
      if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
      if (req.url === '/v1/drain') return send(res, 200, handlers.drain());
      if (req.url !== '/v1/operator') return send(res, 404, { error: 'not found' });
      let body: unknown;
      try {
        body = await readJson(req);
      } catch {
        return send(res, 400, { error: 'body must be a JSON object of at most 1 MiB' });
      }
      const parsed = OPERATOR_REQUEST.safeParse(body);
      if (!parsed.success) return send(res, 400, { error: 'expected {argv: string[], stdin: string|null, cwd: string}' });
      log.info({ command: parsed.data.argv.slice(0, 2).join(' ') }, 'operator command over the control channel');
      send(res, 200, await handlers.runOperator(parsed.data));
    })().catch((error: unknown) => {
      log.error({ err: error }, 'control channel request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.requestTimeout = 300_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 1_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  try {
    await writeControlFile(dataDir, { port, pid: process.pid, token, role: options.role, started_at: new Date().toISOString() });
  } catch (error) {
    server.close();
    throw error;
  }
  log.info({ control_port: port, path: controlFilePath(dataDir) }, 'control channel listening on 127.0.0.1');

  return {
    port,
    async close() {
      await removeControlFile(dataDir);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A command still running gets a few seconds; then its connection is cut.
      const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      server.closeIdleConnections();
      await closed;
      clearTimeout(timer);
    },
  };
}
