export { ConfigError, parseConfig, resolveDataDir } from './config.ts';
export type { Config, DatabaseConfig, EmbeddedSecrets, ProcessMode } from './config.ts';
export { loadOrCreateEmbeddedSecrets } from './embedded-secrets.ts';
import { parseConfig, resolveDataDir, type Config } from './config.ts';
import { loadOrCreateEmbeddedSecrets } from './embedded-secrets.ts';

/** Loads configuration for a process: embedded mode generates its secrets on first run. */
export async function loadConfig(env: NodeJS.ProcessEnv, log: (message: string) => void): Promise<Config> {
  if (env.DATABASE_URL?.trim()) return parseConfig(env);
  const embeddedSecrets = await loadOrCreateEmbeddedSecrets(resolveDataDir(env), log);
  return parseConfig(env, { embeddedSecrets });
}
