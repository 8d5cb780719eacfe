import { setTimeout as sleep } from 'node:timers/promises';
import { embeddedLockHolder } from '../db/index.ts';
import { readControlFile, type ControlEndpoint } from './control-file.ts';
import type { DrainResponse, OperatorRequest, OperatorResponse } from './control-server.ts';

/** The control listener could not be reached (it stopped, or the file is stale). */
export class ControlUnreachableError extends Error {
  readonly pid: number;
  constructor(endpoint: ControlEndpoint, cause: unknown) {
    super(`cannot reach the control channel of process ${endpoint.pid} on 127.0.0.1:${endpoint.port}`, { cause });
    this.name = 'ControlUnreachableError';
    this.pid = endpoint.pid;
  }
}

export class ControlRefusedError extends Error {
  readonly status: number;
  constructor(status: number, detail: string) {
    super(`the control channel refused the request (HTTP ${status}: ${detail})`);
    this.name = 'ControlRefusedError';
    this.status = status;
  }
}

async function call<T>(endpoint: ControlEndpoint, path: string, body: unknown, timeoutMs: number): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`http://127.0.0.1:${endpoint.port}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new ControlUnreachableError(endpoint, error);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) throw new ControlRefusedError(response.status, text.slice(0, 200));
  return JSON.parse(text) as T;
}

export const requestOperatorCommand = (endpoint: ControlEndpoint, request: OperatorRequest, timeoutMs = 300_000): Promise<OperatorResponse> =>
  call<OperatorResponse>(endpoint, '/v1/operator', request, timeoutMs);

export const requestDrain = (endpoint: ControlEndpoint, timeoutMs = 5_000): Promise<DrainResponse> => call<DrainResponse>(endpoint, '/v1/drain', {}, timeoutMs);

export type EmbeddedHolder = { kind: 'none' } | { kind: 'server'; endpoint: ControlEndpoint } | { kind: 'busy'; pid: number };

/**
 * Who holds the embedded database in `dataDir`: nobody, a server with a control channel, or a
 * process without one (a `migrate` run). A server that just took the lock gets `waitMs` to
 * publish its control file.
 */
export async function embeddedHolder(dataDir: string, waitMs = 5_000): Promise<EmbeddedHolder> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const pid = await embeddedLockHolder(dataDir);
    if (pid === null) return { kind: 'none' };
    const endpoint = await readControlFile(dataDir);
    if (endpoint && endpoint.pid === pid) return { kind: 'server', endpoint };
    if (Date.now() >= deadline) return { kind: 'busy', pid };
    await sleep(100);
  }
}
