import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/index.ts';
import { getInstanceSettings, updateInstanceSettings } from '../../settings/index.ts';
import { scopeOf } from '../http-session.ts';

/** Instance settings, owner only (spec §8.4); the services call `authorize`. */
export function registerSettingsRoutes(app: FastifyInstance, db: Db): void {
  app.get('/settings', async (request) => getInstanceSettings(db, scopeOf(request)));
  app.put('/settings', async (request) => updateInstanceSettings(db, scopeOf(request), request.body));
}
