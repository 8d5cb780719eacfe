import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { jsonb } from '../db/index.ts';

export type UpstreamModelEntry = Record<string, unknown> & { slug: string };

/** Reads the `{"models":[…]}` body; entries without a slug are ignored. */
export function modelEntriesFrom(body: unknown): UpstreamModelEntry[] {
  if (!body || typeof body !== 'object') return [];
  const models = (body as Record<string, unknown>).models;
  if (!Array.isArray(models)) return [];
  return models.filter((m): m is UpstreamModelEntry => !!m && typeof m === 'object' && typeof (m as Record<string, unknown>).slug === 'string' && (m as { slug: string }).slug.trim() !== '');
}

/** Stores the upstream's model entries as the pool catalog (served as stored on /models). */
/** Each model also records which accounts (identity ids) advertise it, so routing can skip the others. */
export async function saveCatalog(db: Db, poolId: string, entries: UpstreamModelEntry[], now = new Date(), sourceIdentityId: string | null = null): Promise<void> {
  if (entries.length === 0) return;
  const rows = new Map<string, UpstreamModelEntry>();
  for (const entry of entries) rows.set(entry.slug.trim().toLowerCase(), entry);
  await db
    .insertInto('models')
    .values(
      [...rows.entries()].map(([exposed, entry]) => ({
        pool_id: poolId,
        upstream_model_id: entry.slug,
        exposed_model_id: exposed,
        display_name: typeof entry.display_name === 'string' ? entry.display_name : null,
        pricing_ref: null,
        stale_at: null,
        retired_at: null,
        suppressed_at: null,
        last_seen_at: now,
        metadata: jsonb({ upstream_entry: entry, sources: sourceIdentityId ? { [sourceIdentityId]: now.toISOString() } : {} }),
      })),
    )
    .onConflict((oc) =>
      oc.columns(['pool_id', 'exposed_model_id']).doUpdateSet((eb) => ({
        upstream_model_id: eb.ref('excluded.upstream_model_id'),
        display_name: eb.ref('excluded.display_name'),
        status: 'active',
        stale_at: null,
        last_seen_at: now,
        metadata: sql<Record<string, unknown>>`jsonb_build_object('upstream_entry', excluded.metadata->'upstream_entry', 'sources', coalesce(models.metadata->'sources', '{}'::jsonb) || coalesce(excluded.metadata->'sources', '{}'::jsonb))`,
        updated_at: now,
      })),
    )
    .execute();
}
