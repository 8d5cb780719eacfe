export { recordAudit } from './record.ts';
export type { Actor, AuditEntry } from './record.ts';
export { sanitizeDetails, isSensitiveKey, REDACTED } from './sanitize.ts';

import type { Actor } from './record.ts';
/** The actor for operator CLI commands run on the host. */
export const cliActor = (): Actor => ({ type: 'system', label: 'cli' });
