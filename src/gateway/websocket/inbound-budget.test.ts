import { describe, expect, test } from 'vitest';
import { InboundBudget, ProcessInboundBudget } from './inbound-budget.ts';
import { MAX_FRAME_BYTES, MAX_PROCESS_QUEUED_BYTES, MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES } from './protocol.ts';

function flow() {
  const calls: string[] = [];
  return { calls, pause: () => void calls.push('pause'), resume: () => void calls.push('resume') };
}

const MiB = 1024 * 1024;

describe('the per-connection queue bound', () => {
  test('reading pauses at the frame bound and resumes once a frame leaves the queue', () => {
    const f = flow();
    const budget = new InboundBudget(f, new ProcessInboundBudget());
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

  test('16 MiB queued pauses reading; a single maximal frame is still taken whole', () => {
    expect(MAX_QUEUED_BYTES).toBe(16 * MiB);
    const f = flow();
    const budget = new InboundBudget(f, new ProcessInboundBudget());
    const first = budget.admit(15 * MiB);
    expect(budget.paused).toBe(false);
    const second = budget.admit(MiB);
    expect(f.calls).toEqual(['pause']);
    first();
    second();
    expect(f.calls).toEqual(['pause', 'resume']);
    // A 64 MiB frame (the frame limit) on an empty queue is accepted; reading pauses right after it.
    const big = budget.admit(MAX_FRAME_BYTES);
    expect(budget.queued).toEqual({ frames: 1, bytes: MAX_FRAME_BYTES });
    expect(f.calls).toEqual(['pause', 'resume', 'pause']);
    big();
    expect(f.calls).toEqual(['pause', 'resume', 'pause', 'resume']);
  });

  test('a release counts once, for the connection and the process', () => {
    const shared = new ProcessInboundBudget(10_000);
    const budget = new InboundBudget(flow(), shared, { frames: 2, bytes: 1000 });
    const release = budget.admit(1);
    expect(shared.bytes).toBe(1);
    release();
    release();
    expect(budget.queued).toEqual({ frames: 0, bytes: 0 });
    expect(shared.bytes).toBe(0);
  });
});

describe('the process-wide queue bound', () => {
  test('defaults to 256 MiB', () => {
    expect(MAX_PROCESS_QUEUED_BYTES).toBe(256 * MiB);
    expect(new ProcessInboundBudget().exhausted).toBe(false);
  });

  test('connections each within their own bound pause together once the process bound is reached, and resume together', () => {
    const shared = new ProcessInboundBudget(3000);
    const limits = { frames: 8, bytes: 2000 };
    const [fa, fb, fc] = [flow(), flow(), flow()];
    const a = new InboundBudget(fa, shared, limits);
    const b = new InboundBudget(fb, shared, limits);
    const idle = new InboundBudget(fc, shared, limits);
    const fromA = a.admit(1500);
    b.admit(1000);
    expect([fa.calls, fb.calls, fc.calls]).toEqual([[], [], []]);
    // 3000 bytes queued in the process: every connection stops reading, even one with nothing queued.
    const more = b.admit(500);
    expect(shared.exhausted).toBe(true);
    expect([a.paused, b.paused, idle.paused]).toEqual([true, true, true]);
    expect([fa.calls, fb.calls, fc.calls]).toEqual([['pause'], ['pause'], ['pause']]);
    // Below the process bound again: everyone resumes.
    more();
    expect([fa.calls, fb.calls, fc.calls]).toEqual([['pause', 'resume'], ['pause', 'resume'], ['pause', 'resume']]);
    // A connection at its own bound pauses alone while the process is below its bound.
    fromA();
    const ownFull = b.admit(1000);
    expect(shared.exhausted).toBe(false);
    expect([a.paused, b.paused, idle.paused]).toEqual([false, true, false]);
    ownFull();
    expect(b.paused).toBe(false);
  });

  test('a closed connection no longer pauses or resumes, and its queued frames still leave the process count', () => {
    const shared = new ProcessInboundBudget(100);
    const closed = flow();
    const gone = new InboundBudget(closed, shared, { frames: 8, bytes: 1000 });
    const queued = gone.admit(40);
    gone.close();
    const live = new InboundBudget(flow(), shared, { frames: 8, bytes: 1000 });
    const filling = live.admit(60);
    expect(live.paused).toBe(true);
    expect(closed.calls).toEqual([]);
    queued();
    expect(shared.bytes).toBe(60);
    expect(live.paused).toBe(false);
    filling();
    expect(shared.bytes).toBe(0);
  });
});
