import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../crypto/index.ts';
import { explainRoute, type RouteExplanation } from './explain-route.ts';
import type { RouteClass } from './admission.ts';
import type { RoutingState } from './routing-state.ts';

export type ExplainInput = { poolId: string; apiKeyId?: string | null; model?: string | null; session?: string | null; promptCacheKey?: string | null; routeClass?: RouteClass };

/**
 * The explanation for a pool as this process sees it: its snapshot, circuits and demotions. The seed
 * is built exactly like the gateway builds it, so a session explains to the account it gets.
 */
export async function explainForPool(routing: RoutingState, input: ExplainInput): Promise<RouteExplanation> {
  const [candidates, settings] = await Promise.all([routing.candidates(input.poolId), routing.settings(input.poolId)]);
  const model = (input.model ?? 'gpt-5.4').toLowerCase();
  const scope = `${input.poolId}:${input.apiKeyId ?? ''}:${model}`;
  const affinityKind = input.session && settings.stickyWebsocketSessions ? 'codex_session' : input.promptCacheKey && settings.promptCacheAffinity ? 'prompt_cache' : 'none';
  const seed = affinityKind === 'codex_session' ? `${scope}:codex_session:${sha256Hex(input.session!)}` : affinityKind === 'prompt_cache' ? `${scope}:prompt_cache:${sha256Hex(input.promptCacheKey!)}` : randomUUID();
  const routeClass = input.routeClass ?? 'proxy_stream';
  return explainRoute(candidates, {
    now: Date.now(),
    strategy: settings.strategy,
    ringSize: settings.ringSize,
    seed,
    sticky: affinityKind !== 'none',
    affinityKind,
    isCircuitBlocked: (c) => routing.isCircuitBlocked(c.assignmentId, model, routeClass),
    demoted: input.apiKeyId ? routing.demotedFor(input.apiKeyId, model, candidates) : new Set(),
    model,
  });
}
