import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type EmbeddedSecrets } from './config.ts';

const SECRETS_FILE = 'secrets.json';

/**
 * Embedded mode keeps its generated secrets in the data directory (mode 0600) so a restart decrypts
 * what the previous run stored. Generated once; later runs only read.
 */
export async function loadOrCreateEmbeddedSecrets(
  dataDir: string,
  log: (message: string) => void,
): Promise<EmbeddedSecrets> {
  const path = join(dataDir, SECRETS_FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<EmbeddedSecrets>;
    if (
      typeof parsed.SECRET_KEY_BASE === 'string' &&
      typeof parsed.CODEX_POOLER_UPSTREAM_SECRET_KEY === 'string' &&
      typeof parsed.CODEX_POOLER_TOTP_ENCRYPTION_KEY === 'string'
    ) {
      return parsed as EmbeddedSecrets;
    }
    throw new ConfigError(path, 'is incomplete; restore it from a backup (it holds the keys for stored credentials)');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(path, 'is unreadable or not JSON; restore it from a backup');
    }
  }
  const secrets: EmbeddedSecrets = {
    SECRET_KEY_BASE: randomBytes(64).toString('base64'),
    CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString('base64'),
    CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  await writeFile(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
  log(`generated embedded-mode secrets in ${path} (mode 0600); back this file up with the data directory`);
  return secrets;
}
