import { StringDecoder } from 'node:string_decoder';

export type SseEvent = {
  /** The `event:` label, else the data's `type`, else null. */
  type: string | null;
  data: string;
};

// Observation only: an event larger than this is skipped (the bytes still pass through untouched).
const MAX_PENDING_CHARS = 8 * 1024 * 1024;
const TYPE_PEEK = /"type"\s*:\s*"([^"]{1,128})"/;

/**
 * Incremental SSE reader. Holds only the unfinished tail, never the stream; each chunk is scanned
 * once. Used to observe events (usage, quota, failures) while the raw bytes are relayed as they are.
 */
export class SseReader {
  #decoder = new StringDecoder('utf8');
  #pending = '';
  #skipping = false;

  push(chunk: Buffer): SseEvent[] {
    let text = this.#pending + this.#decoder.write(chunk);
    const events: SseEvent[] = [];
    for (;;) {
      const boundary = findBoundary(text);
      if (boundary === null) break;
      const block = text.slice(0, boundary.index);
      text = text.slice(boundary.index + boundary.length);
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      const event = parseBlock(block);
      if (event) events.push(event);
    }
    if (text.length > MAX_PENDING_CHARS) {
      this.#skipping = true;
      text = '';
    }
    this.#pending = text;
    return events;
  }

  /** Whatever remains when the stream ends (a final block without a blank line). */
  end(): SseEvent[] {
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    const event = rest.trim() ? parseBlock(rest) : null;
    return event ? [event] : [];
  }
}

function findBoundary(text: string): { index: number; length: number } | null {
  const lf = text.indexOf('\n\n');
  const crlf = text.indexOf('\r\n\r\n');
  if (lf === -1 && crlf === -1) return null;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { index: crlf, length: 4 };
  return { index: lf, length: 2 };
}

export function parseBlock(block: string): SseEvent | null {
  let label: string | null = null;
  const data: string[] = [];
  for (const rawLine of block.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    else if (line.startsWith('event:')) label = line.slice(line[6] === ' ' ? 7 : 6).trim() || null;
  }
  if (data.length === 0 && label === null) return null;
  const joined = data.join('\n');
  return { type: label ?? TYPE_PEEK.exec(joined.slice(0, 512))?.[1] ?? null, data: joined };
}

export function parseEventData(event: SseEvent): Record<string, unknown> | null {
  try {
    const value = JSON.parse(event.data) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
