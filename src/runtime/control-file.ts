import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * `<dataDir>/control.json` tells CLI processes on this host where the running server's loopback
 * control listener is and which token it expects. Mode 0600: whoever can read it may operate the
 * instance, exactly like whoever can read the embedded database files.
 */
export const CONTROL_FILE = 'control.json';

const ENDPOINT_SCHEMA = z.object({
  port: z.number().int().min(1).max(65535),
  pid: z.number().int().positive(),
  token: z.string().min(32),
  role: z.string().optional(),
  started_at: z.string().optional(),
});

export type ControlEndpoint = z.infer<typeof ENDPOINT_SCHEMA>;

export const controlFilePath = (dataDir: string): string => join(dataDir, CONTROL_FILE);

export const newControlToken = (): string => randomBytes(32).toString('base64url');

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The endpoint a live process published, or null (no file, unreadable, or its process is gone). */
export async function readControlFile(dataDir: string): Promise<ControlEndpoint | null> {
  let text: string;
  try {
    text = await readFile(controlFilePath(dataDir), 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = ENDPOINT_SCHEMA.safeParse(JSON.parse(text));
    return parsed.success && processAlive(parsed.data.pid) ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Written to a private temporary file and renamed into place: readers never see half a file. */
export async function writeControlFile(dataDir: string, endpoint: ControlEndpoint): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const target = controlFilePath(dataDir);
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(endpoint)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, target);
}

/** Removes the file only while it still names this process (a successor may have replaced it). */
export async function removeControlFile(dataDir: string, pid = process.pid): Promise<void> {
  try {
    const current = JSON.parse(await readFile(controlFilePath(dataDir), 'utf8')) as { pid?: unknown };
    if (current.pid === pid) await rm(controlFilePath(dataDir), { force: true });
  } catch {
    // Already gone or unreadable: nothing of ours to remove.
  }
}
