/** What the benchmark ran on, and how busy the rest of the machine was meanwhile. */
import { readdir, readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import pg from 'pg';

export type MachineInfo = { cpu: string; cores: number; memoryMiB: number; node: string; postgres: string; kernel: string; platform: string };

export async function machineInfo(adminDatabaseUrl: string): Promise<MachineInfo> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  let postgres = 'unknown';
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  try {
    await client.connect();
    postgres = String((await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown');
  } catch {
    // reported as unknown
  } finally {
    await client.end().catch(() => {});
  }
  return { cpu: model, cores: cpus().length, memoryMiB: Math.round(totalmem() / 1024 / 1024), node: process.version, postgres, kernel: release(), platform: process.platform };
}

/** Whole-machine CPU counters from /proc/stat, in seconds (null where there is no /proc). */
export type CpuCounters = { busy: number; steal: number; total: number; postgres: Map<number, number>; at: number } | null;

const HZ = 100; // USER_HZ on Linux

/** CPU seconds used so far by each live process named `postgres` (server and backends). */
async function postgresCpu(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const pids = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    pids
      .filter((p) => /^\d+$/.test(p))
      .map(async (pid) => {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const close = stat.lastIndexOf(')');
        if (close === -1 || stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') return;
        const fields = stat.slice(close + 2).split(' ');
        out.set(Number(pid), (Number(fields[11]) + Number(fields[12])) / HZ);
      }),
  );
  return out;
}

export async function cpuCounters(): Promise<CpuCounters> {
  const stat = await readFile('/proc/stat', 'utf8').catch(() => null);
  const line = stat?.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  // user nice system idle iowait irq softirq steal guest guest_nice
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq) / HZ, steal: steal / HZ, total: (user + nice + system + idle + iowait + irq + softirq + steal) / HZ, postgres: await postgresCpu(), at: performance.now() };
}

export type MachineLoad = {
  /** CPU-seconds the whole machine was busy between the two readings */
  busySeconds: number;
  /** of which this benchmark's three processes (driver, gateway, upstream) used */
  benchSeconds: number;
  /** PostgreSQL processes (this run's request logs and quota writes, but also any other database user) */
  postgresSeconds: number;
  /** the rest: anything else running on the machine */
  otherSeconds: number;
  /** average cores busy with other work (not the benchmark, not PostgreSQL) over the interval */
  otherCores: number;
  stealSeconds: number;
  wallSeconds: number;
  loadAverage1m: number;
};

export function machineLoad(before: CpuCounters, after: CpuCounters, benchCpuSeconds: number): MachineLoad | null {
  if (!before || !after) return null;
  const busy = after.busy - before.busy;
  const wall = (after.at - before.at) / 1000;
  let postgres = 0;
  for (const [pid, seconds] of after.postgres) postgres += seconds - (before.postgres.get(pid) ?? 0);
  const other = Math.max(0, busy - benchCpuSeconds - postgres);
  return {
    busySeconds: busy,
    benchSeconds: benchCpuSeconds,
    postgresSeconds: postgres,
    otherSeconds: other,
    otherCores: wall > 0 ? other / wall : 0,
    stealSeconds: after.steal - before.steal,
    wallSeconds: wall,
    loadAverage1m: loadavg()[0] ?? 0,
  };
}

/** Cores kept busy by everything on the machine over `ms` (the benchmark is not running yet). */
export async function busyCores(ms = 2_000): Promise<number | null> {
  const before = await cpuCounters();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = await cpuCounters();
  if (!before || !after) return null;
  return (after.busy - before.busy) / ((after.at - before.at) / 1000);
}

/** The commit measured, and how many files under src/ differed from it (the work tree is measured as it is). */
export function sourceVersion(root: string): { commit: string | null; dirtySrcFiles: number | null } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { commit: git('rev-parse', '--short=12', 'HEAD'), dirtySrcFiles: git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).length };
  } catch {
    return { commit: null, dirtySrcFiles: null };
  }
}
