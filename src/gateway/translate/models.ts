/**
 * Pool catalog entries → `GET /v1/models` (runtime spec §9.6). The entry is the stored upstream
 * model entry after the context-window policy (§1.6); backend-only fields (`context_window`,
 * reasoning levels, serving mode, …) never appear in the `/v1` object.
 */

export type V1ModelSource = {
  /** The exposed model id (the catalog key). */
  id: string;
  /** The stored upstream catalog entry for the model. */
  entry: Record<string, unknown>;
  /** First-seen time, unix seconds (0 when unknown). */
  createdAt?: number | null;
};

export type V1Model = {
  id: string;
  object: 'model';
  created: number;
  owned_by: 'codex-pooler';
  permission: [];
  input_modalities: string[];
  display_name: string;
  supports_streaming: true;
  supports_tools: true;
  supports_reasoning: boolean;
  context_length?: number;
};

export type V1ModelList = { object: 'list'; data: V1Model[] };

const DEFAULT_CONTEXT_PERCENT = 95;

/** floor(context_window × effective_context_window_percent / 100), at least 1; null when unknown. */
export function contextLength(entry: Record<string, unknown>): number | null {
  const window = entry.context_window;
  if (typeof window !== 'number' || !Number.isFinite(window) || window <= 0) return null;
  const raw = entry.effective_context_window_percent;
  const percent = typeof raw === 'number' && Number.isFinite(raw) && raw > 0 && raw <= 100 ? raw : DEFAULT_CONTEXT_PERCENT;
  return Math.max(1, Math.floor((window * percent) / 100));
}

function supportsReasoning(entry: Record<string, unknown>): boolean {
  const levels = entry.supported_reasoning_levels;
  return (Array.isArray(levels) && levels.length > 0) || typeof entry.default_reasoning_level === 'string';
}

export function toV1Model(source: V1ModelSource): V1Model {
  const { entry } = source;
  const modalities = Array.isArray(entry.input_modalities) ? entry.input_modalities.filter((m): m is string => typeof m === 'string') : [];
  const model: V1Model = {
    id: source.id,
    object: 'model',
    created: typeof source.createdAt === 'number' && Number.isFinite(source.createdAt) ? Math.floor(source.createdAt) : 0,
    owned_by: 'codex-pooler',
    permission: [],
    input_modalities: modalities.length > 0 ? modalities : ['text'],
    display_name: typeof entry.display_name === 'string' && entry.display_name.trim() !== '' ? entry.display_name : source.id,
    supports_streaming: true,
    supports_tools: true,
    supports_reasoning: supportsReasoning(entry),
  };
  const length = contextLength(entry);
  if (length !== null) model.context_length = length;
  return model;
}

/** The `/v1/models` list, sorted by id. */
export function toV1Models(sources: Iterable<V1ModelSource>): V1ModelList {
  const data = [...sources].map(toV1Model).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { object: 'list', data };
}
