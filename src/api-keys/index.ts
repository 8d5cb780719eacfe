export { API_KEY_CHANNEL, apiKeyRefColumn, listApiKeys, mintApiKey, parseExpiry, toApiKey } from './service.ts';
export { deleteApiKey, parseApiKeyEdit, pauseApiKey, planStatusChange, resumeApiKey, revokeApiKey, rotateApiKey, setApiKeyStatus, updateApiKey, MAX_NOTES_LENGTH } from './lifecycle.ts';
export type { ApiKeyDeps, ApiKeyEdit, StatusChange } from './lifecycle.ts';
export { deleteObservatorySessions } from './dashboard-sessions.ts';
export type { ApiKey, MintedApiKey } from './service.ts';
export { ApiKeyCache } from './key-cache.ts';
export type { AuthenticatedKey, KeySurface } from './key-cache.ts';
export { changedPolicyFields, checkModelPolicy, effortRank, mergeModelPolicy, modelModeOf, modelPolicyJson, modelPolicyOf, normalizeEffort, parseFields, parseModelPolicyEdit, MODEL_ID, OPEN_POLICY, REASONING_EFFORTS, SERVICE_TIERS } from './model-policy.ts';
export type { ModelMode, ModelPolicy, ModelPolicyEdit, ReasoningEffort, ServiceTier } from './model-policy.ts';
