import type { Logger } from 'pino';
import { ConfigError } from '../config/index.ts';
import { createLogger } from '../http/logger.ts';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** LOG_LEVEL, checked before anything logs: pino would otherwise throw on an unknown level. */
export function logLevelFrom(env: NodeJS.ProcessEnv): string {
  const level = env.LOG_LEVEL?.trim().toLowerCase() || 'info';
  if (!LEVELS.includes(level)) throw new ConfigError('LOG_LEVEL', `must be one of ${LEVELS.join(',')}`);
  return level;
}

/** JSON lines on stderr; stdout stays for command output. */
export function roleLogger(env: NodeJS.ProcessEnv, role: string): Logger {
  return createLogger({ level: logLevelFrom(env) }).child({ role });
}
