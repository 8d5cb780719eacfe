import type { Generated } from 'kysely';

/** A file a Pool API key uploaded through `POST /v1/files`: metadata only, the bytes live upstream. */
export interface FileObjectTable {
  id: Generated<string>;
  file_id: string;
  pool_id: string;
  api_key_id: string;
  pool_upstream_assignment_id: string | null;
  filename: string;
  purpose: string;
  bytes: number | string;
  status: Generated<string>;
  created_at: Generated<Date>;
  expires_at: Date;
}

export type FileObjectTables = { file_objects: FileObjectTable };
