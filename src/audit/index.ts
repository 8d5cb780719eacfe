export { recordAudit } from './record.ts';
export type { Actor, ActorContext, AuditEntry } from './record.ts';
export { sanitizeDetails, isSensitiveKey, REDACTED } from './sanitize.ts';

import type { Actor } from './record.ts';
/** The actor for operator CLI commands run on the host. */
export const cliActor = (): Actor => ({ type: 'system', label: 'cli' });
export { listAuditEvents } from './query.ts';
export type { AuditEventView, AuditFilter, AuditPage, AuditVisibility } from './query.ts';
