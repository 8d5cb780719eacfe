import type { Generated, Insertable, Selectable } from 'kysely';

export type PoolStatus = 'active' | 'disabled' | 'archived';
export type RoutingStrategy = 'bridge_ring' | 'deterministic_rotation' | 'least_recent_success' | 'quota_first';

export interface PoolTable {
  id: Generated<string>;
  slug: string;
  name: string;
  status: Generated<PoolStatus>;
  created_by_user_id: string | null;
  disabled_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface PoolRoutingSettingsTable {
  pool_id: string;
  routing_strategy: Generated<RoutingStrategy>;
  bridge_ring_size: Generated<number>;
  sticky_websocket_sessions: Generated<boolean>;
  sticky_http_sessions: Generated<boolean>;
  prompt_cache_affinity_enabled: Generated<boolean>;
  v1_compatibility_enabled: Generated<boolean>;
  request_compression_enabled: Generated<boolean>;
  allow_image_generation: Generated<boolean>;
  metadata: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type PoolRow = Selectable<PoolTable>;
export type NewPoolRow = Insertable<PoolTable>;

export interface PoolTables {
  pools: PoolTable;
  pool_routing_settings: PoolRoutingSettingsTable;
}
