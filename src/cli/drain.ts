import { resolveDataDir } from '../config/index.ts';
import { ControlUnreachableError, controlFilePath, readControlFile, requestDrain } from '../runtime/client.ts';
import { EXIT_OK, type CliIo } from './io.ts';

/**
 * `codex-pooler drain` (the chart's preStop hook): tells the server publishing a control file in
 * the data directory to start draining. Needs no other configuration, and succeeds with a note when
 * no server runs: there is nothing to drain then.
 */
export async function runDrain(env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const dataDir = resolveDataDir(env);
  const endpoint = await readControlFile(dataDir);
  if (!endpoint) {
    io.stdout(`no running codex-pooler server found (no live ${controlFilePath(dataDir)}); nothing to drain\n`);
    return EXIT_OK;
  }
  try {
    const result = await requestDrain(endpoint);
    io.stdout(`${result.already_draining ? 'already draining' : 'draining'}: process ${result.pid} now answers /readyz with 503\n`);
  } catch (error) {
    if (!(error instanceof ControlUnreachableError)) throw error;
    io.stdout(`the server (process ${endpoint.pid}) did not answer on its control channel; nothing to drain\n`);
  }
  return EXIT_OK;
}
