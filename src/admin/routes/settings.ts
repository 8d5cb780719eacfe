import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/index.ts';
import { getInstanceSettings, updateInstanceSettings, type InstanceSettingsCache } from '../../settings/index.ts';
import { scopeOf } from '../http-session.ts';

/** Instance settings, owner only (spec §8.4); the services call `authorize`. */
export function registerSettingsRoutes(app: FastifyInstance, db: Db, applied: InstanceSettingsCache): void {
  app.get('/settings', async (request) => getInstanceSettings(db, scopeOf(request)));
  app.put('/settings', async (request) => {
    const saved = await updateInstanceSettings(db, scopeOf(request), request.body);
    // This process applies the change at once; the others within a minute.
    await applied.refresh();
    return saved;
  });
}
