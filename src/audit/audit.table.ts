import type { Generated } from 'kysely';

export interface AuditEventTable {
  id: Generated<string>;
  occurred_at: Generated<Date>;
  actor_type: 'user' | 'system';
  actor_user_id: string | null;
  actor_label: string | null;
  pool_id: string | null;
  request_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: Generated<'success' | 'failure'>;
  correlation_id: string | null;
  ip_address: string | null;
  details: Generated<Record<string, unknown>>;
}

export interface AuditTables {
  audit_events: AuditEventTable;
}
