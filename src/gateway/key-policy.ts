import { effortRank, normalizeEffort, OPEN_POLICY, type AuthenticatedKey } from '../api-keys/index.ts';
import { PoolerError } from '../errors.ts';
import type { JsonObject } from './responses-body.ts';

/** Top-level spellings of the effort some clients send next to (or instead of) `reasoning.effort`. */
const EFFORT_ALIASES = ['reasoning_effort', 'reasoningEffort'];

/**
 * A Pool API key's model policy applied to one Responses body, before anything goes upstream
 * (runtime spec §4 step 3, routing spec A1 step 5). Pure. In order: the enforced model replaces the
 * requested one; the model must be on the key's allow-list (403 `model_not_allowed`); an enforced
 * effort is set, else an effort above the key's maximum is refused (400
 * `reasoning_effort_not_allowed`, `param` = the client's field); an enforced service tier replaces
 * the client's. Returns the body to send on and the model the request now names.
 *
 * Every transport calls this on the body it is about to route: HTTP `/backend-api/codex` and `/v1`
 * (src/gateway/routes.ts) and websocket `response.create` turns.
 */
export function applyKeyPolicy(key: Pick<AuthenticatedKey, 'allowedModels' | 'policy'>, body: JsonObject, requestedModel: string, options: { effortParam?: string } = {}): { body: JsonObject; model: string } {
  const policy = key.policy ?? OPEN_POLICY;
  const model = policy.enforcedModel ?? requestedModel;
  checkModelAllowed(key, model);
  const out: JsonObject = { ...body, model };
  const reasoning = out.reasoning && typeof out.reasoning === 'object' && !Array.isArray(out.reasoning) ? (out.reasoning as JsonObject) : null;
  if (policy.enforcedReasoningEffort !== null) {
    for (const alias of EFFORT_ALIASES) delete out[alias];
    out.reasoning = { ...(reasoning ?? {}), effort: policy.enforcedReasoningEffort };
  } else if (policy.maximumReasoningEffort !== null) {
    const asked = requestedEffort(out, reasoning);
    if (asked !== undefined) {
      const effort = normalizeEffort(asked);
      if (effort === null || effortRank(effort) > effortRank(policy.maximumReasoningEffort)) {
        throw new PoolerError('reasoning_effort_not_allowed', 'reasoning effort is not available for this API key', { param: options.effortParam ?? 'reasoning.effort' });
      }
    }
  }
  if (policy.serviceTier !== null) out.service_tier = policy.serviceTier;
  return { body: out, model };
}

/** The key's model allow-list (null = every model, [] = none), case-insensitive. */
export function checkModelAllowed(key: Pick<AuthenticatedKey, 'allowedModels'>, model: string): void {
  if (key.allowedModels !== null && !key.allowedModels.includes(model.toLowerCase())) {
    throw new PoolerError('model_not_allowed', 'api key is not allowed to use this model', { param: 'model' });
  }
}

/** The effort the client asked for, in any spelling; undefined when it asked for none. */
function requestedEffort(body: JsonObject, reasoning: JsonObject | null): unknown {
  if (reasoning && reasoning.effort !== undefined && reasoning.effort !== null) return reasoning.effort;
  for (const alias of EFFORT_ALIASES) if (body[alias] !== undefined && body[alias] !== null) return body[alias];
  return undefined;
}
