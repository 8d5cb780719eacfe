import pino, { type Logger } from 'pino';

// Secrets never reach a log line: headers, cookies, tokens and keys are redacted wherever they appear.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["chatgpt-account-id"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.password',
  '*.token',
  '*.api_key',
  '*.key',
  '*.secret',
];

export function createLogger(options: { level: string; destination?: NodeJS.WritableStream; name?: string }): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'codex-pooler',
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}
