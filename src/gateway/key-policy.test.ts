import { describe, expect, test } from 'vitest';
import { OPEN_POLICY, type ModelPolicy } from '../api-keys/index.ts';
import { PoolerError } from '../errors.ts';
import { applyKeyPolicy } from './key-policy.ts';

const key = (over: Partial<ModelPolicy> = {}) => {
  const policy = { ...OPEN_POLICY, ...over };
  return { allowedModels: policy.allowedModels, policy };
};
const failure = (fn: () => unknown) => {
  try {
    fn();
    return null;
  } catch (error) {
    return error instanceof PoolerError ? { code: error.code, status: error.status, param: error.param } : error;
  }
};

describe('applyKeyPolicy', () => {
  test('an open key passes the body through', () => {
    const body = { model: 'gpt-5.4', reasoning: { effort: 'xhigh' }, service_tier: 'flex' };
    expect(applyKeyPolicy(key(), body, 'gpt-5.4')).toEqual({ body, model: 'gpt-5.4' });
  });

  test('the enforced model replaces the requested one, then passes the allow-list', () => {
    expect(applyKeyPolicy(key({ allowedModels: ['gpt-5.4-mini'], enforcedModel: 'gpt-5.4-mini' }), { model: 'gpt-5.4' }, 'gpt-5.4')).toEqual({ body: { model: 'gpt-5.4-mini' }, model: 'gpt-5.4-mini' });
  });

  test.each([
    ['a model outside the selected list', key({ allowedModels: ['gpt-5.4-mini'] }), { model: 'gpt-5.4' }, {}, { code: 'model_not_allowed', status: 403, param: 'model' }],
    ['any model on a deny-all key', key({ allowedModels: [] }), { model: 'gpt-5.4' }, {}, { code: 'model_not_allowed', status: 403, param: 'model' }],
    ['an effort above the maximum', key({ maximumReasoningEffort: 'medium' }), { model: 'gpt-5.4', reasoning: { effort: 'high' } }, {}, { code: 'reasoning_effort_not_allowed', status: 400, param: 'reasoning.effort' }],
    ['a top-level alias above the maximum', key({ maximumReasoningEffort: 'low' }), { model: 'gpt-5.4', reasoning_effort: 'medium' }, {}, { code: 'reasoning_effort_not_allowed', status: 400, param: 'reasoning.effort' }],
    ['ultra under a high maximum (ultra is max)', key({ maximumReasoningEffort: 'high' }), { model: 'gpt-5.4', reasoning: { effort: 'ultra' } }, {}, { code: 'reasoning_effort_not_allowed', status: 400, param: 'reasoning.effort' }],
    ['chat names its own field', key({ maximumReasoningEffort: 'low' }), { model: 'gpt-5.4', reasoning: { effort: 'high' } }, { effortParam: 'reasoning_effort' }, { code: 'reasoning_effort_not_allowed', status: 400, param: 'reasoning_effort' }],
  ])('refuses %s', (_name, k, body, options, want) => {
    expect(failure(() => applyKeyPolicy(k, body, 'gpt-5.4', options))).toEqual(want);
  });

  test.each([
    ['at the maximum', { reasoning: { effort: 'medium' } }],
    ['below it (minimal is low)', { reasoning: { effort: 'minimal' } }],
    ['no effort asked', {}],
  ])('a maximum admits an effort %s', (_name, extra) => {
    expect(applyKeyPolicy(key({ maximumReasoningEffort: 'medium' }), { model: 'm', ...extra }, 'm').body).toEqual({ model: 'm', ...extra });
  });

  test('an enforced effort is set whatever the client asked, in the one canonical place', () => {
    const out = applyKeyPolicy(key({ enforcedReasoningEffort: 'low' }), { model: 'm', reasoning: { effort: 'xhigh', summary: 'auto' }, reasoning_effort: 'xhigh' }, 'm').body;
    expect(out).toEqual({ model: 'm', reasoning: { effort: 'low', summary: 'auto' } });
    expect(applyKeyPolicy(key({ enforcedReasoningEffort: 'high' }), { model: 'm' }, 'm').body).toEqual({ model: 'm', reasoning: { effort: 'high' } });
  });

  test('an enforced service tier overrides the client', () => {
    expect(applyKeyPolicy(key({ serviceTier: 'flex' }), { model: 'm', service_tier: 'priority' }, 'm').body.service_tier).toBe('flex');
    expect(applyKeyPolicy(key({ serviceTier: 'priority' }), { model: 'm' }, 'm').body.service_tier).toBe('priority');
  });

  test('a key without a policy (built by hand) is open', () => {
    expect(applyKeyPolicy({ allowedModels: null }, { model: 'm' }, 'm')).toEqual({ body: { model: 'm' }, model: 'm' });
  });
});
