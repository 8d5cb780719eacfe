/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof`): where the gateway child spends
 * its CPU, by file/package (self time) and by function (self and inclusive time).
 *
 *   node bench/profile-summary.ts bench/results/profiles/CPU.….cpuprofile [--top 25] [--skip-ms 3000]
 *
 * `--skip-ms` leaves out the first milliseconds (start-up: module loading, migrations, seeding).
 * Time in `writev` and other system calls is wall time while the thread was inside them, which
 * includes being descheduled: on a small machine it mostly measures contention, not CPU.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'skip-ms': { type: 'string', default: '0' } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/profile-summary.ts FILE.cpuprofile [--top N]');
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(await readFile(positionals[0]!, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Self time per node: each sample's delta is charged to the node that was on top of the stack.
const selfMicros = new Map<number, number>();
const skipMicros = Number(values['skip-ms']) * 1000;
let clock = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  clock += profile.timeDeltas[i] ?? 0;
  if (clock < skipMicros) continue;
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const totalMicros = [...selfMicros.values()].reduce((a, b) => a + b, 0);

function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/builtin)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1);
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1);
  return url;
}

const frameKey = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${area(f.url, f.functionName)}:${f.lineNumber + 1}`;

const byArea = new Map<string, number>();
const selfByFrame = new Map<string, number>();
const inclusiveByFrame = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const node = byId.get(id)!;
  byArea.set(area(node.callFrame.url, node.callFrame.functionName), (byArea.get(area(node.callFrame.url, node.callFrame.functionName)) ?? 0) + micros);
  selfByFrame.set(frameKey(node.callFrame), (selfByFrame.get(frameKey(node.callFrame)) ?? 0) + micros);
  // Inclusive: charge every distinct frame on the stack once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const key = frameKey(byId.get(cur)!.callFrame);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusiveByFrame.set(key, (inclusiveByFrame.get(key) ?? 0) + micros);
  }
}

const pct = (micros: number) => `${((micros / totalMicros) * 100).toFixed(1).padStart(5)}%`;
const print = (title: string, map: Map<string, number>, filter: (key: string) => boolean = () => true) => {
  console.log(`\n${title}`);
  for (const [key, micros] of [...map].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(micros)}  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${key}`);
  }
};

const idle = [...selfMicros].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, m]) => a + m, 0);
console.log(`profile: ${(totalMicros / 1e6).toFixed(2)} s sampled (${(idle / 1e6).toFixed(2)} s idle) over ${((profile.endTime - profile.startTime) / 1e6).toFixed(2)} s wall, first ${skipMicros / 1000} ms skipped`);
print('self time by area (package, node: module or src file)', byArea);
print('self time by function', selfByFrame);
print('inclusive time, project functions (src/)', inclusiveByFrame, (k) => k.includes(' src/'));
print('inclusive time, all functions', inclusiveByFrame, (k) => !k.startsWith('(root)') && !k.startsWith('(program)') && !k.startsWith('(idle)'));
