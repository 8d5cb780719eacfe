import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The embedded database allows one process; this file names the process that holds it. */
export class EmbeddedDatabaseBusyError extends Error {
  readonly pid: number;
  constructor(pid: number) {
    super(`the embedded database is in use by process ${pid}`);
    this.name = 'EmbeddedDatabaseBusyError';
    this.pid = pid;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function embeddedLockPath(dataDir: string): string {
  return join(dataDir, 'embedded.lock');
}

/** Returns the pid holding the lock, or null when none or the holder is gone. */
export async function embeddedLockHolder(dataDir: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(embeddedLockPath(dataDir), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

export async function acquireEmbeddedLock(dataDir: string): Promise<() => Promise<void>> {
  const path = embeddedLockPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await embeddedLockHolder(dataDir);
      if (holder !== null && holder !== process.pid) throw new EmbeddedDatabaseBusyError(holder);
      // A stale lock from a process that died without cleaning up.
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not acquire ${path}`);
}
