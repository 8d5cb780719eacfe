/**
 * The operator command groups: the commands that work on the database and may run inside a
 * server over the control channel. Kept apart from their implementations so `--help` and the
 * role commands start without loading the domain services.
 */
export const OPERATOR_GROUP_DESCRIPTIONS = {
  pools: 'create, list, rename and delete pools, and set their routing',
  accounts: 'import, sign in (login, reauth), list, disable, enable and remove upstream ChatGPT accounts',
  invites: 'invite account owners to add their ChatGPT account to a pool',
  keys: 'create, list, pause, resume, rotate, update (models, reasoning, service tier, pool), limit, revoke and delete Pool API keys',
  operators: 'manage admin UI operators (bootstrap the instance owner)',
  pricing: 'import the model pricing feed, show and list model prices',
  usage: 'requests, tokens and cost per day, key, account or model',
  routing: 'explain how requests are routed in a pool',
  metrics: 'protect /metrics with a bearer token, or remove it',
} as const;

export type OperatorGroup = keyof typeof OPERATOR_GROUP_DESCRIPTIONS;

export const OPERATOR_GROUPS: ReadonlySet<string> = new Set(Object.keys(OPERATOR_GROUP_DESCRIPTIONS));
