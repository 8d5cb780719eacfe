import type { FastifyInstance } from 'fastify';
import { bootstrapOwner, bootstrapStatus } from '../operators/index.ts';
import type { Services } from '../services.ts';

export async function registerBootstrapRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/bootstrap/status', async () => ({ status: 'ok', bootstrap: await bootstrapStatus(services.db) }));
  app.post('/bootstrap', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const result = await bootstrapOwner(services.db, { type: 'system', label: 'bootstrap' }, { email: body.email, password: body.password, display_name: body.display_name }, { ipAddress: request.ip });
    return reply.code(201).send({ status: 'ok', bootstrap: 'completed', owner: { id: result.userId, email: result.email } });
  });
}
