import WebSocket from 'ws';

export type OpenResult = { ws: WebSocket; headers: Record<string, string | string[] | undefined> };

/** A websocket client that collects text frames and lets a test wait for the next terminal of a turn. */
export class TestSocket {
  readonly ws: WebSocket;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly frames: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters = new Set<() => void>();

  constructor(ws: WebSocket, headers: Record<string, string | string[] | undefined>) {
    this.ws = ws;
    this.headers = headers;
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Record<string, unknown>);
      this.#notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#notify();
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits until `predicate` holds (checked on every frame and on close). */
  until<T>(predicate: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = predicate();
        if (value) return done(() => resolve(value));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.map((f) => f.type))} closed: ${JSON.stringify(this.closed)}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Frames of one turn: everything after `from` up to and including the first terminal or error frame. */
  async turn(from: number, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
    const terminal = new Set(['response.completed', 'response.done', 'response.failed', 'response.incomplete', 'error']);
    const end = await this.until(() => {
      const index = this.frames.findIndex((f, i) => i >= from && terminal.has(String(f.type)));
      return index >= 0 ? index + 1 : undefined;
    }, 'a terminal frame', timeoutMs);
    return this.frames.slice(from, end);
  }

  waitClosed(timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closed, 'the socket to close', timeoutMs);
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a websocket; rejects with the HTTP status and body when the server refuses the upgrade. */
export function openSocket(url: string, headers: Record<string, string>): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('upgrade', (response) => {
      const socket = new TestSocket(ws, response.headers);
      ws.once('open', () => resolve(socket));
    });
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        reject(Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode, body, headers: response.headers }));
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

export function wsUrl(httpUrl: string, path: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}${path}`;
}
