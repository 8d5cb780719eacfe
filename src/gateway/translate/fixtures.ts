/** Test support: the recorded upstream streams under `__fixtures__/`, read as SseEvents, and small assertion helpers. */
import { readFileSync } from 'node:fs';
import { PoolerError } from '../../errors.ts';
import { SseReader, type SseEvent } from '../sse.ts';

export type FixtureName =
  | 'text-basic'
  | 'function-call'
  | 'custom-tool'
  | 'refusal'
  | 'incomplete-max-tokens'
  | 'incomplete-content-filter'
  | 'failure-before-output'
  | 'failure-mid-stream'
  | 'eof-mid-stream'
  | 'usage-absent'
  | 'empty-deltas';

export function fixtureEvents(name: FixtureName): SseEvent[] {
  const reader = new SseReader();
  const bytes = readFileSync(new URL(`./__fixtures__/${name}.sse`, import.meta.url));
  return [...reader.push(bytes), ...reader.end()];
}

/** Parsed `data:` payloads of written frames (`[DONE]` kept as the string). */
export function framePayloads(frames: string[]): unknown[] {
  return frames.map((frame) => {
    const data = frame
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => line.slice(6))
      .join('\n');
    return data === '[DONE]' ? data : (JSON.parse(data) as unknown);
  });
}

/** The PoolerError a translation throws, as {status, code, param, message}. */
export function refusal(run: () => unknown): { status: number; code: string; param: string | null; message: string } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof PoolerError)) throw error;
    return { status: error.status, code: error.code, param: error.param, message: error.message };
  }
  throw new Error('expected the translation to refuse the body');
}
