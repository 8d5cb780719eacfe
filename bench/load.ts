/**
 * The bounded load loop: `count` requests at a fixed concurrency against one target, timed with
 * performance.now() around undici requests on a shared keep-alive Agent.
 */
import { Agent, request } from 'undici';

export type TargetName = 'direct' | 'gateway';

export type Target = { name: TargetName; origin: string; headers: Record<string, string> };

export type Scenario = {
  id: string;
  title: string;
  path: string;
  body: Buffer;
  stream: boolean;
  /** delay the fake upstream puts between streamed events while this scenario runs (default 0) */
  eventDelayMs?: number;
};

/** One timed request, in milliseconds from the moment it was sent. */
export type Sample = {
  /** until the last body byte */
  total: number;
  /** until the response headers (status line) */
  headers: number;
  /** until the first body byte */
  firstByte: number;
  /** streams only: until the chunk carrying the first `response.output_text.delta` */
  firstDelta: number | null;
};

export type BatchResult = { samples: Sample[]; errors: number; errorExamples: string[] };

const DELTA_MARKER = Buffer.from('response.output_text.delta');
const COMPLETED_MARKER = Buffer.from('response.completed');
const OUTPUT_MARKER = Buffer.from('"output"');

export class DeadlineError extends Error {}

export function createClient(): Agent {
  // One socket per in-flight request (no pipelining), kept alive between requests for both targets.
  return new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 120_000, pipelining: 1, connections: null, headersTimeout: 60_000, bodyTimeout: 60_000 });
}

/** Finds `marker` in `chunk`, or straddling the end of the previous chunk. */
function contains(previousTail: Buffer | null, chunk: Buffer, marker: Buffer): boolean {
  if (chunk.indexOf(marker) !== -1) return true;
  if (!previousTail) return false;
  return Buffer.concat([previousTail, chunk.subarray(0, marker.length - 1)]).indexOf(marker) !== -1;
}

/** Sends one request and times it; throws on a non-200 or an answer without the expected content. */
export async function timedRequest(agent: Agent, target: Target, scenario: Scenario, signal?: AbortSignal, onFirstByte?: () => void): Promise<Sample> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...target.headers };
  if (scenario.stream) headers.accept = 'text/event-stream';
  const started = performance.now();
  const response = await request(`${target.origin}${scenario.path}`, { method: 'POST', headers, body: scenario.body, dispatcher: agent, signal });
  const headersAt = performance.now() - started;
  let firstByte = Number.NaN;
  let firstDelta: number | null = null;
  let sawEnd = false;
  let tail: Buffer | null = null;
  const status = response.statusCode;
  let errorText = '';
  for await (const raw of response.body) {
    const chunk = raw as Buffer;
    if (Number.isNaN(firstByte)) {
      firstByte = performance.now() - started;
      onFirstByte?.();
    }
    if (status !== 200) {
      errorText += chunk.toString('utf8');
      continue;
    }
    if (scenario.stream) {
      if (firstDelta === null && contains(tail, chunk, DELTA_MARKER)) firstDelta = performance.now() - started;
      if (!sawEnd && contains(tail, chunk, COMPLETED_MARKER)) sawEnd = true;
      tail = chunk.subarray(Math.max(0, chunk.length - 32));
    } else if (!sawEnd && contains(tail, chunk, OUTPUT_MARKER)) {
      sawEnd = true;
    } else {
      tail = chunk.subarray(Math.max(0, chunk.length - 16));
    }
  }
  const total = performance.now() - started;
  if (status !== 200) throw new Error(`${target.name} ${scenario.path}: HTTP ${status} ${errorText.slice(0, 300)}`);
  if (!sawEnd) throw new Error(`${target.name} ${scenario.path}: answer without ${scenario.stream ? 'response.completed' : 'output'}`);
  if (scenario.stream && firstDelta === null) throw new Error(`${target.name} ${scenario.path}: stream without a text delta`);
  return { total, headers: headersAt, firstByte, firstDelta };
}

/** `count` requests with `concurrency` workers; stops early (DeadlineError) past `deadline` (performance.now() ms). */
export async function runBatch(agent: Agent, target: Target, scenario: Scenario, count: number, concurrency: number, deadline: number): Promise<BatchResult> {
  const samples: Sample[] = [];
  const errorExamples: string[] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      if (performance.now() > deadline) throw new DeadlineError('the benchmark ran past --max-seconds');
      try {
        samples.push(await timedRequest(agent, target, scenario));
      } catch (error) {
        errors++;
        if (errorExamples.length < 3) errorExamples.push(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { samples, errors, errorExamples };
}
