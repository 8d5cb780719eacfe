import { Button, Fieldset, Group, NumberInput, Radio, Select, SimpleGrid, Stack, TagsInput, Text, TextInput } from '@mantine/core';
import type { ApiKey, KeyLimits, LimitValues } from '../api.ts';

/** The key edit dialog's "Models and limits" section: model access, enforcement, reasoning, tier and limits. */

export const EFFORTS = ['none', 'low', 'medium', 'high', 'xhigh', 'max'];
const TIERS = [
  { value: '', label: "Client's choice" },
  { value: 'default', label: 'Default (standard)' },
  { value: 'flex', label: 'Flex' },
  { value: 'priority', label: 'Priority (fast)' },
];
const LIMIT_FIELDS: { field: keyof LimitValues; label: string }[] = [
  { field: 'max_requests_per_minute', label: 'Requests per minute' },
  { field: 'max_tokens_per_day', label: 'Tokens per day (UTC)' },
  { field: 'max_tokens_per_week', label: 'Tokens per 7 days' },
  { field: 'max_input_tokens_per_request', label: 'Input tokens per request' },
  { field: 'max_output_tokens_per_request', label: 'Output tokens per request' },
];

type LimitDraft = Record<keyof LimitValues, number | ''>;
export type PolicyDraft = {
  mode: ApiKey['model_mode'];
  models: string[];
  enforcedModel: string | null;
  reasoning: 'unrestricted' | 'maximum' | 'always';
  effort: string | null;
  serviceTier: string;
  defaultLimits: LimitDraft;
  modelLimits: (LimitDraft & { model: string; row: number })[];
};

const draftLimits = (values: LimitValues | null): LimitDraft =>
  Object.fromEntries(LIMIT_FIELDS.map(({ field }) => [field, values?.[field] ?? ''])) as LimitDraft;
const limitValues = (draft: LimitDraft): LimitValues =>
  Object.fromEntries(LIMIT_FIELDS.map(({ field }) => [field, draft[field] === '' ? null : Number(draft[field])])) as LimitValues;

let nextRow = 0;

export function policyDraftOf(key: ApiKey, limits: KeyLimits): PolicyDraft {
  return {
    mode: key.model_mode,
    models: key.allowed_models,
    enforcedModel: key.enforced_model,
    reasoning: key.enforced_reasoning_effort ? 'always' : key.maximum_reasoning_effort ? 'maximum' : 'unrestricted',
    effort: key.enforced_reasoning_effort ?? key.maximum_reasoning_effort,
    serviceTier: key.service_tier ?? '',
    defaultLimits: draftLimits(limits.default),
    modelLimits: limits.models.map((m) => ({ ...draftLimits(m), model: m.model, row: nextRow++ })),
  };
}

/** The PATCH fields for the policy; the server checks consistency (invalid_policy). */
export function policyPatch(draft: PolicyDraft): Record<string, unknown> {
  return {
    model_mode: draft.mode,
    ...(draft.mode === 'selected' ? { allowed_models: draft.models } : {}),
    enforced_model: draft.enforcedModel,
    maximum_reasoning_effort: draft.reasoning === 'maximum' ? draft.effort : null,
    enforced_reasoning_effort: draft.reasoning === 'always' ? draft.effort : null,
    service_tier: draft.serviceTier || null,
  };
}

/** The PUT /limits document; rows without a model name are ignored. */
export function limitsDocument(draft: PolicyDraft): KeyLimits {
  const defaults = limitValues(draft.defaultLimits);
  return {
    default: Object.values(defaults).some((v) => v !== null) ? defaults : null,
    models: draft.modelLimits.filter((m) => m.model.trim()).map((m) => ({ model: m.model.trim(), ...limitValues(m) })),
  };
}

function LimitInputs({ values, onChange, scope }: { values: LimitDraft; onChange: (next: LimitDraft) => void; scope: string }) {
  return (
    <SimpleGrid cols={{ base: 2, sm: 3 }} spacing="xs">
      {LIMIT_FIELDS.map(({ field, label }) => (
        <NumberInput
          key={field}
          label={label}
          aria-label={`${label} (${scope})`}
          value={values[field]}
          onChange={(v) => onChange({ ...values, [field]: v === '' ? '' : Number(v) })}
          min={1}
          allowDecimal={false}
          allowNegative={false}
          placeholder="No limit"
          size="xs"
        />
      ))}
    </SimpleGrid>
  );
}

export function KeyPolicyEditor({ draft, onChange, catalog }: { draft: PolicyDraft; onChange: (next: PolicyDraft) => void; catalog: string[] }) {
  const set = (patch: Partial<PolicyDraft>) => onChange({ ...draft, ...patch });
  const modelChoices = draft.mode === 'selected' ? draft.models : catalog;
  return (
    <Fieldset legend="Models and limits">
      <Stack gap="sm">
        <Radio.Group label="Model access" value={draft.mode} onChange={(v) => set({ mode: v as PolicyDraft['mode'] })}>
          <Group mt={4}>
            <Radio value="all" label="All models" />
            <Radio value="selected" label="Selected models" />
            <Radio value="deny_all" label="No models" />
          </Group>
        </Radio.Group>
        {draft.mode === 'selected' ? (
          <TagsInput
            label="Allowed models"
            description="Pick from the pool's catalog or type a model id and press Enter"
            data={catalog}
            value={draft.models}
            onChange={(models) => set({ models: models.map((m) => m.trim().toLowerCase()).filter(Boolean) })}
            clearable
          />
        ) : null}
        <Select
          label="Enforced model"
          description="Every request is served with this model, whatever the client asks"
          placeholder="Client's choice"
          data={[...new Set([...modelChoices, ...(draft.enforcedModel ? [draft.enforcedModel] : [])])]}
          value={draft.enforcedModel}
          onChange={(v) => set({ enforcedModel: v })}
          clearable
          searchable
          disabled={draft.mode === 'deny_all'}
        />
        <Radio.Group label="Reasoning effort" value={draft.reasoning} onChange={(v) => set({ reasoning: v as PolicyDraft['reasoning'], effort: v === 'unrestricted' ? null : (draft.effort ?? 'medium') })}>
          <Group mt={4}>
            <Radio value="unrestricted" label="Unrestricted" />
            <Radio value="maximum" label="Allow up to" />
            <Radio value="always" label="Always" />
          </Group>
        </Radio.Group>
        {draft.reasoning !== 'unrestricted' ? (
          <Select label={draft.reasoning === 'maximum' ? 'Maximum effort' : 'Effort to use'} data={EFFORTS} value={draft.effort} onChange={(v) => set({ effort: v })} allowDeselect={false} />
        ) : null}
        <Select label="Service tier" data={TIERS} value={draft.serviceTier} onChange={(v) => set({ serviceTier: v ?? '' })} allowDeselect={false} />
        <Text size="sm" fw={500}>Limits for every model</Text>
        <LimitInputs scope="all models" values={draft.defaultLimits} onChange={(defaultLimits) => set({ defaultLimits })} />
        {draft.modelLimits.map((row, index) => (
          <Stack key={row.row} gap={4}>
            <Group align="flex-end">
              <TextInput
                label={`Model ${index + 1}`}
                description="These limits replace the ones above for this model"
                value={row.model}
                onChange={(e) => set({ modelLimits: draft.modelLimits.map((r) => (r.row === row.row ? { ...r, model: e.currentTarget.value } : r)) })}
                size="xs"
                style={{ flex: 1 }}
              />
              <Button size="xs" variant="default" color="red" onClick={() => set({ modelLimits: draft.modelLimits.filter((r) => r.row !== row.row) })} aria-label={`Remove limits for ${row.model || `model ${index + 1}`}`}>
                Remove
              </Button>
            </Group>
            <LimitInputs scope={row.model || `model ${index + 1}`} values={row} onChange={(next) => set({ modelLimits: draft.modelLimits.map((r) => (r.row === row.row ? { ...r, ...next } : r)) })} />
          </Stack>
        ))}
        <Group>
          <Button size="xs" variant="light" onClick={() => set({ modelLimits: [...draft.modelLimits, { ...draftLimits(null), model: '', row: nextRow++ }] })}>
            Add limits for a model
          </Button>
        </Group>
      </Stack>
    </Fieldset>
  );
}
