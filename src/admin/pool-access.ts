import { PoolerError } from '../errors.ts';
import { authorize, readablePoolIds, type Capability, type Scope } from '../operators/index.ts';
import { findPool, type Pool } from '../pools/index.ts';
import type { Services } from '../services.ts';

/** The Pool an admin request names, after `authorize` allowed `capability` on it. */
export async function poolFor(services: Services, scope: Scope, ref: string, capability: Capability): Promise<Pool> {
  const pool = await findPool(services.db, ref).catch((error: unknown) => {
    if (error instanceof PoolerError && error.code === 'not_found') throw new PoolerError('pool_not_found', 'pool does not exist', { param: 'pool_id' });
    throw error;
  });
  authorize(scope, capability, pool);
  return pool;
}

/**
 * Visibility for list reads: every Pool for owners, else the assigned ones; an explicit Pool filter
 * must itself be readable (403 otherwise, nothing listed).
 */
export async function readScope(services: Services, scope: Scope, poolFilter: string | undefined): Promise<{ poolIds: string[] | null; poolId: string | undefined }> {
  const pool = poolFilter ? await poolFor(services, scope, poolFilter, 'pool.view') : null;
  return { poolIds: readablePoolIds(scope), poolId: pool?.id };
}
