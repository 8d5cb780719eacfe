import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES, PING_INTERVAL_MS } from './protocol.ts';

/** The beta header value the upstream websocket requires (runtime spec §5.2). */
export const WEBSOCKET_BETA = 'responses_websockets=2026-02-06';
const ERROR_BODY_LIMIT = 64 * 1024;

/** Why the upstream refused the upgrade: an HTTP status (with its bounded body), or the transport. */
export class UpstreamConnectError extends Error {
  readonly status: number | null;
  readonly code: string;
  readonly body: Buffer | null;
  readonly headers: Record<string, string | string[] | undefined>;

  constructor(status: number | null, code: string, body: Buffer | null, headers: Record<string, string | string[] | undefined>) {
    super(status === null ? `upstream websocket connect failed (${code})` : `upstream websocket upgrade answered ${status}`);
    this.name = 'UpstreamConnectError';
    this.status = status;
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

/** The upstream websocket URL on an account's base URL (http → ws, https → wss). */
export function upstreamWebsocketUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}/backend-api/codex/responses`;
}

function readBody(response: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= ERROR_BODY_LIMIT) chunks.push(chunk);
    });
    response.on('end', () => resolve(Buffer.concat(chunks)));
    response.on('error', () => resolve(null));
    setTimeout(() => resolve(chunks.length ? Buffer.concat(chunks) : null), 2_000).unref();
  });
}

/**
 * One session's live upstream websocket ("owner" socket): opened with the account's headers, kept
 * alive with pings, read with backpressure (pause/resume). One listener at a time receives frames:
 * the turn being relayed.
 */
export class UpstreamSocket {
  readonly upgradeHeaders: Record<string, string | string[] | undefined>;
  onFrame: ((text: string) => void) | null = null;
  onClose: ((code: number) => void) | null = null;
  #ws: WebSocket;
  #ping: NodeJS.Timeout;
  #awaitingPong = false;
  #closed = false;

  private constructor(ws: WebSocket, upgradeHeaders: Record<string, string | string[] | undefined>) {
    this.#ws = ws;
    this.upgradeHeaders = upgradeHeaders;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return; // the upstream speaks JSON text frames only
      this.onFrame?.(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8'));
    });
    ws.on('pong', () => {
      this.#awaitingPong = false;
    });
    ws.on('close', (code) => this.#finish(code));
    ws.on('error', () => this.#finish(1006));
    this.#ping = setInterval(() => {
      if (this.#awaitingPong) return void ws.terminate();
      this.#awaitingPong = true;
      ws.ping();
    }, PING_INTERVAL_MS);
    this.#ping.unref();
  }

  static connect(url: string, headers: Record<string, string>, options: { connectTimeoutMs: number }): Promise<UpstreamSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: options.connectTimeoutMs, maxPayload: MAX_FRAME_BYTES, followRedirects: false });
      let settled = false;
      ws.once('upgrade', (response) => {
        settled = true;
        const socket = new UpstreamSocket(ws, response.headers);
        ws.once('open', () => resolve(socket));
      });
      ws.once('unexpected-response', (_request, response) => {
        settled = true;
        void readBody(response).then((body) => {
          ws.terminate();
          reject(new UpstreamConnectError(response.statusCode ?? 502, `upstream_${response.statusCode}`, body, response.headers));
        });
      });
      ws.once('error', (error: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        const timeout = /timed out|timeout/i.test(error.message);
        reject(new UpstreamConnectError(null, timeout ? 'upstream_timeout' : (error.code ?? 'transport_error'), null, {}));
      });
    });
  }

  get open(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    this.#ws.send(text);
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#ws.close(1000);
    // A peer that never answers the close handshake is cut after a second.
    setTimeout(() => this.#ws.terminate(), 1_000).unref();
    this.#finish(1000);
  }

  #finish(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
    this.onClose?.(code);
  }
}
