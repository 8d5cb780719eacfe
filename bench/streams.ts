/**
 * Concurrent open streams: N streaming requests through the gateway held open by a slow upstream
 * (a delay between events), while the gateway child's memory is sampled.
 */
import type { Child, ProcessSample } from './control.ts';
import { createClient, timedRequest, type Scenario, type Target } from './load.ts';

export type StreamsResult = {
  requested: number;
  eventDelayMs: number;
  completed: number;
  failed: number;
  errorExamples: string[];
  /** most streams that had their first byte and had not ended, at any sample */
  maxOpen: number;
  /** ms from the first request until every stream had its first byte (null if that never happened) */
  allOpenAfterMs: number | null;
  durationMs: number;
  baseline: ProcessSample;
  /** the gateway sample taken (after a GC) while the most streams were open */
  atMaxOpen: ProcessSample & { open: number };
  peakRss: number;
  /** (RSS at max open - baseline RSS) / max open */
  rssPerStream: number;
  /** growth of live JS memory (heap + external, both after a GC) / max open */
  livePerStream: number;
  /** max open + what the RSS left below 512 MiB holds at the larger of the two per-stream rates (NaN under 100 open) */
  projectedStreamsPer512MiB: number;
  timeline: Array<{ atMs: number; open: number; rss: number; heapUsed: number }>;
};

export async function openStreamsTest(options: {
  target: Target;
  scenario: Scenario;
  upstream: Child;
  gateway: Child;
  streams: number;
  eventDelayMs: number;
  deadlineMs: number;
}): Promise<StreamsResult> {
  const { target, scenario, upstream, gateway, streams, eventDelayMs } = options;
  const agent = createClient();
  await upstream.call('event-delay', { ms: eventDelayMs });
  const baseline = await gateway.sample({ gc: true });
  const started = performance.now();
  const timeout = AbortSignal.timeout(Math.max(1_000, Math.round(options.deadlineMs - started)));
  let open = 0;
  let opened = 0;
  let completed = 0;
  let failed = 0;
  let allOpenAfterMs: number | null = null;
  const errorExamples: string[] = [];
  const timeline: StreamsResult['timeline'] = [];
  let atMaxOpen: StreamsResult['atMaxOpen'] = { ...baseline, open: 0 };
  let peakRss = baseline.rss;

  let sampling = true;
  const sampler = (async () => {
    let previousOpen = -1;
    let collectedAt = -1;
    while (sampling) {
      let sample = await gateway.sample();
      const now = open;
      // Once the open count holds steady at a new high, take one sample after a full GC: live memory, not garbage.
      if (now > 0 && now === previousOpen && now > collectedAt && now >= atMaxOpen.open) {
        sample = await gateway.sample({ gc: true });
        collectedAt = now;
        atMaxOpen = { ...sample, open: now };
      }
      previousOpen = now;
      timeline.push({ atMs: Math.round(performance.now() - started), open: now, rss: sample.rss, heapUsed: sample.heapUsed });
      peakRss = Math.max(peakRss, sample.rss);
      if (now > atMaxOpen.open) atMaxOpen = { ...sample, open: now };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();

  try {
    await Promise.all(
      Array.from({ length: streams }, async () => {
        let counted = false;
        try {
          await timedRequest(agent, target, scenario, timeout, () => {
            counted = true;
            open++;
            opened++;
            if (opened === streams) allOpenAfterMs = performance.now() - started;
          });
          completed++;
        } catch (error) {
          failed++;
          if (errorExamples.length < 3) errorExamples.push(error instanceof Error ? error.message : String(error));
        } finally {
          if (counted) open--;
        }
      }),
    );
  } finally {
    sampling = false;
    await sampler;
    await upstream.call('event-delay', { ms: 0 });
    await agent.close();
  }
  const held = atMaxOpen.open;
  const rssPerStream = held > 0 ? Math.max(0, atMaxOpen.rss - baseline.rss) / held : Number.NaN;
  const livePerStream = held > 0 ? Math.max(0, atMaxOpen.heapUsed + atMaxOpen.external - baseline.heapUsed - baseline.external) / held : Number.NaN;
  // RSS alone under-counts when the allocator reuses pages freed by earlier load; live memory alone
  // ignores fragmentation and native buffers. The larger of the two is the rate used.
  const perStream = Math.max(rssPerStream, livePerStream);
  const budget = 512 * 1024 * 1024;
  return {
    requested: streams,
    eventDelayMs,
    completed,
    failed,
    errorExamples,
    maxOpen: atMaxOpen.open,
    allOpenAfterMs,
    durationMs: performance.now() - started,
    baseline,
    atMaxOpen,
    peakRss,
    rssPerStream,
    livePerStream,
    // Too few open streams say nothing about the per-stream cost: no projection below 100.
    projectedStreamsPer512MiB: perStream > 0 && held >= 100 ? held + Math.floor((budget - atMaxOpen.rss) / perStream) : Number.NaN,
    timeline,
  };
}
