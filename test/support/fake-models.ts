/**
 * Model catalog entries shaped like the ChatGPT Codex backend
 * `GET /backend-api/codex/models` response.
 */
export type ModelEntry = Record<string, unknown> & { slug: string };

export const DEFAULT_MODEL_SLUGS = ['gpt-5.4', 'gpt-5.4-mini', 'gpt-5.3-codex'] as const;

const REASONING_LEVELS = [
  { effort: 'low', description: 'Fast responses with lighter reasoning' },
  { effort: 'medium', description: 'Balances speed and reasoning depth for everyday tasks' },
  { effort: 'high', description: 'Greater reasoning depth for complex problems' },
  { effort: 'xhigh', description: 'Extra high reasoning depth for complex problems' },
];

export function modelEntry(slug: string, priority = 0, overrides: Partial<ModelEntry> = {}): ModelEntry {
  const mini = slug.includes('mini');
  return {
    slug,
    display_name: slug,
    description: mini ? 'Smaller, faster, cheaper model.' : 'Latest frontier agentic coding model.',
    default_reasoning_level: 'medium',
    supported_reasoning_levels: REASONING_LEVELS,
    shell_type: 'shell_command',
    visibility: 'list',
    supported_in_api: true,
    priority,
    upgrade: null,
    base_instructions: 'You are Codex, a coding agent based on GPT-5.',
    supports_reasoning_summaries: true,
    default_reasoning_summary: 'auto',
    support_verbosity: true,
    default_verbosity: 'low',
    apply_patch_tool_type: 'freeform',
    truncation_policy: { mode: 'tokens', limit: 10000 },
    supports_parallel_tool_calls: true,
    context_window: 272000,
    max_context_window: 272000,
    auto_compact_token_limit: 244800,
    effective_context_window_percent: 95,
    experimental_supported_tools: [],
    input_modalities: ['text', 'image'],
    ...overrides,
  };
}

/** Build a catalog from slugs and/or partial entries (entries need a slug). */
export function buildCatalog(models?: ReadonlyArray<string | ModelEntry>): ModelEntry[] {
  const list = models ?? DEFAULT_MODEL_SLUGS;
  return list.map((m, i) => (typeof m === 'string' ? modelEntry(m, i) : modelEntry(m.slug, i, m)));
}
