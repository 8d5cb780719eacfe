import { describe, expect, test } from 'vitest';
import { contextLength, toV1Models } from './models.ts';

const entry = (overrides: Record<string, unknown> = {}) => ({
  slug: 'gpt-x',
  display_name: 'GPT X',
  default_reasoning_level: 'medium',
  supported_reasoning_levels: [{ effort: 'low' }, { effort: 'high' }],
  context_window: 272000,
  max_context_window: 272000,
  effective_context_window_percent: 95,
  input_modalities: ['text', 'image'],
  shell_type: 'shell_command',
  base_instructions: 'You are Codex.',
  ...overrides,
});

describe('toV1Models (spec §9.6)', () => {
  test('fields of the /v1 model object; backend-only fields are not exposed (spec §14 #35)', () => {
    expect(toV1Models([{ id: 'gpt-x', entry: entry(), createdAt: 1767225600 }])).toEqual({
      object: 'list',
      data: [
        {
          id: 'gpt-x',
          object: 'model',
          created: 1767225600,
          owned_by: 'codex-pooler',
          permission: [],
          input_modalities: ['text', 'image'],
          display_name: 'GPT X',
          supports_streaming: true,
          supports_tools: true,
          supports_reasoning: true,
          context_length: 258400,
        },
      ],
    });
  });

  test('sorted by id; defaults for a sparse entry; context_length omitted when unknown', () => {
    const list = toV1Models([
      { id: 'zeta', entry: {} },
      { id: 'alpha', entry: { context_window: 'big', input_modalities: 'text' } },
    ]);
    expect(list.data.map((model) => model.id)).toEqual(['alpha', 'zeta']);
    expect(list.data[1]).toEqual({ id: 'zeta', object: 'model', created: 0, owned_by: 'codex-pooler', permission: [], input_modalities: ['text'], display_name: 'zeta', supports_streaming: true, supports_tools: true, supports_reasoning: false });
    expect(list.data[0]).not.toHaveProperty('context_length');
  });

  test.each([
    ['95 % of 272000', { context_window: 272000, effective_context_window_percent: 95 }, 258400],
    ['percent defaults to 95 when a context window exists', { context_window: 200000 }, 190000],
    ['an invalid percent falls back to 95', { context_window: 1000, effective_context_window_percent: 0 }, 950],
    ['floor', { context_window: 1001, effective_context_window_percent: 50 }, 500],
    ['at least 1', { context_window: 1, effective_context_window_percent: 1 }, 1],
    ['no context window', { effective_context_window_percent: 95 }, null],
  ] as [string, Record<string, unknown>, number | null][])('contextLength: %s', (_name, values, want) => {
    expect(contextLength(values)).toBe(want);
  });
});
