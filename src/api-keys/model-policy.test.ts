import { describe, expect, test } from 'vitest';
import { PoolerError } from '../errors.ts';
import { changedPolicyFields, mergeModelPolicy, modelModeOf, normalizeEffort, OPEN_POLICY, type ModelPolicy } from './model-policy.ts';

const codeOf = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (error) {
    return error instanceof PoolerError ? `${error.code}:${error.param}` : String(error);
  }
};
const policy = (over: Partial<ModelPolicy> = {}): ModelPolicy => ({ ...OPEN_POLICY, ...over });

describe('mergeModelPolicy', () => {
  test.each([
    ['selected models are trimmed, lowercased, deduplicated and sorted', OPEN_POLICY, { model_mode: 'selected', allowed_models: [' GPT-5.4 ', 'gpt-5.4', 'gpt-5.4-mini'] }, { allowedModels: ['gpt-5.4', 'gpt-5.4-mini'] }],
    ['a list alone means selected', OPEN_POLICY, { allowed_models: ['gpt-5.4'] }, { allowedModels: ['gpt-5.4'] }],
    ['deny_all stores an empty list', policy({ allowedModels: ['a'] }), { model_mode: 'deny_all' }, { allowedModels: [] }],
    ['none is deny_all', OPEN_POLICY, { model_mode: 'none' }, { allowedModels: [] }],
    ['all clears the list', policy({ allowedModels: ['a'] }), { model_mode: 'all' }, { allowedModels: null }],
    ['selected without a list keeps the current one', policy({ allowedModels: ['a', 'b'] }), { model_mode: 'selected' }, { allowedModels: ['a', 'b'] }],
    ['an enforced model inside the list', policy({ allowedModels: ['a', 'b'] }), { enforced_model: 'B' }, { allowedModels: ['a', 'b'], enforcedModel: 'b' }],
    ['efforts fold aliases', OPEN_POLICY, { maximum_reasoning_effort: 'Minimal' }, { maximumReasoningEffort: 'low' }],
    ['swapping maximum for enforced in one edit', policy({ maximumReasoningEffort: 'high' }), { maximum_reasoning_effort: null, enforced_reasoning_effort: 'ultra' }, { enforcedReasoningEffort: 'max' }],
    ['fast is priority', OPEN_POLICY, { service_tier: 'fast' }, { serviceTier: 'priority' }],
    ['empty strings clear', policy({ enforcedModel: 'a', serviceTier: 'flex' }), { enforced_model: '', service_tier: '' }, {}],
  ] as const)('%s', (_name, current, edit, want) => {
    expect(mergeModelPolicy(current, edit)).toEqual(policy(want as Partial<ModelPolicy>));
  });

  test.each([
    ['selected with an empty list', OPEN_POLICY, { model_mode: 'selected', allowed_models: [] }, 'invalid_policy:allowed_models'],
    ['selected with no list at all', OPEN_POLICY, { model_mode: 'selected' }, 'invalid_policy:allowed_models'],
    ['all with a list', OPEN_POLICY, { model_mode: 'all', allowed_models: ['a'] }, 'invalid_policy:allowed_models'],
    ['enforced model outside the selected list', policy({ allowedModels: ['a'] }), { enforced_model: 'b' }, 'invalid_policy:enforced_model'],
    ['narrowing the list below the enforced model', policy({ allowedModels: ['a', 'b'], enforcedModel: 'b' }), { allowed_models: ['a'] }, 'invalid_policy:enforced_model'],
    ['enforced model on a key that may use none', OPEN_POLICY, { model_mode: 'deny_all', enforced_model: 'a' }, 'invalid_policy:enforced_model'],
    ['both efforts', OPEN_POLICY, { maximum_reasoning_effort: 'high', enforced_reasoning_effort: 'low' }, 'invalid_policy:enforced_reasoning_effort'],
    ['an enforced effort next to a stored maximum', policy({ maximumReasoningEffort: 'high' }), { enforced_reasoning_effort: 'low' }, 'invalid_policy:enforced_reasoning_effort'],
    ['whitespace inside a model id', OPEN_POLICY, { allowed_models: ['gpt 5'] }, 'invalid_request:allowed_models.0'],
    ['an unknown effort', OPEN_POLICY, { maximum_reasoning_effort: 'extreme' }, 'invalid_request:maximum_reasoning_effort'],
    ['an unknown tier', OPEN_POLICY, { service_tier: 'scale' }, 'invalid_request:service_tier'],
    ['an unknown field', OPEN_POLICY, { models: ['a'] }, 'invalid_request:null'],
  ] as const)('refuses %s', (_name, current, edit, want) => {
    expect(codeOf(() => mergeModelPolicy(current, edit))).toBe(want);
  });
});

test('changedPolicyFields names what differs', () => {
  expect(changedPolicyFields(OPEN_POLICY, policy({ allowedModels: ['a'], serviceTier: 'flex' }))).toEqual(['allowed_models', 'service_tier']);
  expect(changedPolicyFields(policy({ allowedModels: ['a'] }), policy({ allowedModels: ['a'] }))).toEqual([]);
});

test('model modes and efforts', () => {
  expect([null, [], ['a']].map((m) => modelModeOf(m))).toEqual(['all', 'deny_all', 'selected']);
  expect(['HIGH', 'ultra', 'minimal', 'bogus', 3].map(normalizeEffort)).toEqual(['high', 'max', 'low', null, null]);
});
