import type { Generated } from 'kysely';

export interface InstanceSettingsTable {
  singleton: Generated<boolean>;
  settings: Generated<Record<string, unknown>>;
  lock_version: Generated<number>;
  updated_by_user_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SettingsTables {
  instance_settings: InstanceSettingsTable;
}
