import { describe, expect, test } from 'vitest';
import { InboundBudget } from './inbound-budget.ts';
import { MAX_FRAME_BYTES, MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES } from './protocol.ts';

function flow() {
  const calls: string[] = [];
  return { calls, pause: () => void calls.push('pause'), resume: () => void calls.push('resume') };
}

describe('the per-connection queue bound', () => {
  test('reading pauses at the frame bound and resumes once a frame leaves the queue', () => {
    const f = flow();
    const budget = new InboundBudget(f);
    const releases = Array.from({ length: MAX_QUEUED_FRAMES - 1 }, () => budget.admit(10));
    expect(f.calls).toEqual([]);
    releases.push(budget.admit(10));
    expect(f.calls).toEqual(['pause']);
    expect(budget.paused).toBe(true);
    // Frames already read keep arriving after the pause: counted, no second pause.
    releases.push(budget.admit(10));
    releases.pop()!();
    expect(f.calls).toEqual(['pause']);
    releases.pop()!();
    expect(f.calls).toEqual(['pause', 'resume']);
    expect(budget.queued).toEqual({ frames: MAX_QUEUED_FRAMES - 1, bytes: 10 * (MAX_QUEUED_FRAMES - 1) });
  });

  test('two maximal frames reach the byte bound first', () => {
    const f = flow();
    const budget = new InboundBudget(f);
    expect(MAX_QUEUED_BYTES).toBe(2 * MAX_FRAME_BYTES);
    const first = budget.admit(MAX_FRAME_BYTES);
    expect(budget.paused).toBe(false);
    budget.admit(MAX_FRAME_BYTES);
    expect(f.calls).toEqual(['pause']);
    first();
    expect(f.calls).toEqual(['pause', 'resume']);
  });

  test('a release counts once', () => {
    const f = flow();
    const budget = new InboundBudget(f, { frames: 2, bytes: 1000 });
    const release = budget.admit(1);
    release();
    release();
    expect(budget.queued).toEqual({ frames: 0, bytes: 0 });
  });
});
