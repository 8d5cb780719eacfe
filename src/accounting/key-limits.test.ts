import { expect, test } from 'vitest';
import { PoolerError } from '../errors.ts';
import { mergeLimits, parseLimitsDocument, type LimitValues } from './key-limits.ts';

const none: LimitValues = { max_requests_per_minute: null, max_tokens_per_day: null, max_tokens_per_week: null, max_input_tokens_per_request: null, max_output_tokens_per_request: null };

test('mergeLimits: given fields set, null clears one, absent stay; an empty binding is none', () => {
  const current = { ...none, max_requests_per_minute: 5, max_tokens_per_day: 1000 };
  expect(mergeLimits(current, { max_tokens_per_week: 9000 })).toEqual({ ...current, max_tokens_per_week: 9000 });
  expect(mergeLimits(current, { max_requests_per_minute: null })).toEqual({ ...none, max_tokens_per_day: 1000 });
  expect(mergeLimits(current, { max_requests_per_minute: null, max_tokens_per_day: null })).toBeNull();
  expect(mergeLimits(null, { max_requests_per_minute: 1 })).toEqual({ ...none, max_requests_per_minute: 1 });
  expect(mergeLimits(null, {})).toBeNull();
});

test('parseLimitsDocument normalises model ids and drops empty bindings', () => {
  expect(parseLimitsDocument({ default: { max_requests_per_minute: 3 }, models: [{ model: ' GPT-5.4 ', max_tokens_per_day: 10 }, { model: 'gpt-5.4-mini' }] })).toEqual({
    default: { ...none, max_requests_per_minute: 3 },
    models: [{ model: 'gpt-5.4', ...none, max_tokens_per_day: 10 }],
  });
  expect(parseLimitsDocument({})).toEqual({ default: null, models: [] });
});

test.each([
  ['a negative limit', { default: { max_requests_per_minute: -1 } }, 'default.max_requests_per_minute'],
  ['a fraction', { default: { max_tokens_per_day: 1.5 } }, 'default.max_tokens_per_day'],
  ['an unknown field', { default: { rpm: 5 } }, 'default'],
  ['a model twice (case-insensitive)', { models: [{ model: 'A', max_requests_per_minute: 1 }, { model: 'a', max_requests_per_minute: 2 }] }, 'models.1.model'],
  ['whitespace in a model id', { models: [{ model: 'gpt 5', max_requests_per_minute: 1 }] }, 'models.0.model'],
])('parseLimitsDocument refuses %s', (_name, input, param) => {
  let error: unknown = null;
  try {
    parseLimitsDocument(input);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PoolerError);
  expect(error).toMatchObject({ code: 'invalid_request', param });
});

test('parseLimitsDocument shares the key model id rules and names the whole document when no field is at fault', () => {
  expect(() => parseLimitsDocument({ models: [{ model: '  ', max_requests_per_minute: 1 }] })).toThrow('models.0.model: model ids must not be empty');
  let error: unknown = null;
  try {
    parseLimitsDocument({ rpm: 5 });
  } catch (e) {
    error = e;
  }
  expect(error).toMatchObject({ code: 'invalid_request', param: null });
  expect((error as Error).message).toMatch(/^limits: /);
});
