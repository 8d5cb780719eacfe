import { describe, expect, it } from 'vitest';
import {
  normalizeLimitId,
  parseAbsoluteReset,
  quotaFromErrorBody,
  quotaFromHeaders,
  quotaFromRateLimitEvent,
  quotaFromUsageDocument,
  rateLimitReachedType,
  usageLimitResetAt,
} from './quota-evidence.ts';
import type { QuotaWindowEvidence } from './quota-evidence.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const IN_1H = new Date(NOW.getTime() + 3_600_000);
const IN_1H_S = NOW_S + 3600;

function win(overrides: Partial<QuotaWindowEvidence>): QuotaWindowEvidence {
  return {
    quotaKey: 'account',
    windowKind: 'primary',
    windowMinutes: 300,
    usedPercent: 0,
    resetAt: null,
    source: 'codex_response_headers',
    precision: 'observed',
    limitName: null,
    ...overrides,
  };
}

describe('parseAbsoluteReset', () => {
  it.each<[unknown, Date | null]>([
    [IN_1H_S, IN_1H],
    [String(IN_1H_S), IN_1H],
    [' 1772370000 ', new Date(1772370000 * 1000)],
    ['2026-03-01T13:00:00Z', IN_1H],
    ['2026-03-01T14:00:00+01:00', IN_1H],
    ['2026-03-01T13:00:00.000Z', IN_1H],
    [0, null],
    [-5, null],
    ['-5', null],
    [Number.NaN, null],
    ['NaN', null],
    ['2026-03-01T13:00:00', null], // no zone: ambiguous
    ['March 1 2026', null],
    ['', null],
    [null, null],
    [{}, null],
    [1e300, null],
  ])('%s', (input, expected) => {
    expect(parseAbsoluteReset(input)).toEqual(expected);
  });
});

describe('quotaFromHeaders', () => {
  it('reads codex primary and secondary windows', () => {
    const windows = quotaFromHeaders(
      {
        'X-Codex-Primary-Used-Percent': '42.5',
        'x-codex-primary-window-minutes': '300',
        'x-codex-primary-reset-at': String(IN_1H_S),
        'x-codex-secondary-used-percent': ['7'],
        'x-codex-secondary-window-minutes': '10080',
        'x-codex-secondary-reset-at': '2026-03-01T13:00:00Z',
      },
      NOW,
    );
    expect(windows).toEqual([
      win({ usedPercent: 42.5, resetAt: IN_1H }),
      win({ windowKind: 'secondary', windowMinutes: 10080, usedPercent: 7, resetAt: IN_1H }),
    ]);
  });

  it('marks a missing reset as inferred', () => {
    const windows = quotaFromHeaders({ 'x-codex-primary-used-percent': '10', 'x-codex-primary-window-minutes': '300' }, NOW);
    expect(windows).toEqual([win({ usedPercent: 10, precision: 'inferred' })]);
  });

  it('keeps the window but not a malformed reset', () => {
    const windows = quotaFromHeaders(
      { 'x-codex-primary-used-percent': '10', 'x-codex-primary-window-minutes': '300', 'x-codex-primary-reset-at': 'soon' },
      NOW,
    );
    expect(windows).toEqual([win({ usedPercent: 10, precision: 'inferred' })]);
  });

  it.each<[string, Record<string, string>]>([
    ['percent above 100', { 'x-codex-primary-used-percent': '100.5', 'x-codex-primary-window-minutes': '300' }],
    ['negative percent', { 'x-codex-primary-used-percent': '-1', 'x-codex-primary-window-minutes': '300' }],
    ['non-numeric percent', { 'x-codex-primary-used-percent': 'abc', 'x-codex-primary-window-minutes': '300' }],
    ['zero minutes', { 'x-codex-primary-used-percent': '5', 'x-codex-primary-window-minutes': '0' }],
    ['missing minutes', { 'x-codex-primary-used-percent': '5' }],
    ['fractional minutes', { 'x-codex-primary-used-percent': '5', 'x-codex-primary-window-minutes': '1.5' }],
    ['missing percent', { 'x-codex-primary-window-minutes': '300' }],
  ])('drops a window with %s', (_name, headers) => {
    expect(quotaFromHeaders(headers, NOW)).toEqual([]);
  });

  it('normalizes a 10080-minute primary to secondary, keeping the higher duplicate', () => {
    const windows = quotaFromHeaders(
      {
        'x-codex-primary-used-percent': '80',
        'x-codex-primary-window-minutes': '10080',
        'x-codex-primary-reset-at': String(IN_1H_S),
        'x-codex-secondary-used-percent': '60',
        'x-codex-secondary-window-minutes': '10080',
      },
      NOW,
    );
    expect(windows).toEqual([win({ windowKind: 'secondary', windowMinutes: 10080, usedPercent: 80, resetAt: IN_1H })]);
  });

  it('reads extra limit families with their names', () => {
    const windows = quotaFromHeaders(
      {
        'x-codex-primary-used-percent': '1',
        'x-codex-primary-window-minutes': '300',
        'x-Codex-Spark-primary-used-percent': '55',
        'x-codex-spark-primary-window-minutes': '300',
        'x-codex-spark-primary-reset-at': String(IN_1H_S),
        'x-codex-spark-limit-name': 'GPT-5.3-Codex-Spark',
        'x-codex-rate-limit-reached-type': 'rate_limit_reached',
      },
      NOW,
    );
    expect(windows).toEqual([
      win({ usedPercent: 1, precision: 'inferred' }),
      win({ quotaKey: 'codex_spark', usedPercent: 55, resetAt: IN_1H, limitName: 'GPT-5.3-Codex-Spark' }),
    ]);
  });

  it('ignores unrelated headers', () => {
    expect(quotaFromHeaders({ 'content-type': 'text/event-stream', 'x-request-id': 'abc' }, NOW)).toEqual([]);
  });
});

describe('rateLimitReachedType', () => {
  it.each<[string | undefined, string | null]>([
    ['rate_limit_reached', 'rate_limit_reached'],
    ['Workspace_Owner_Credits_Depleted', 'workspace_owner_credits_depleted'],
    ['workspace_member_credits_depleted', 'workspace_member_credits_depleted'],
    ['workspace_owner_usage_limit_reached', 'workspace_owner_usage_limit_reached'],
    ['workspace_member_usage_limit_reached', 'workspace_member_usage_limit_reached'],
    ['something_else', null],
    [undefined, null],
  ])('%s', (value, expected) => {
    expect(rateLimitReachedType({ 'X-Codex-Rate-Limit-Reached-Type': value })).toBe(expected);
  });
});

describe('quotaFromRateLimitEvent', () => {
  const base = (rateLimits: unknown, extra: Record<string, unknown> = {}) => ({ type: 'codex.rate_limits', rate_limits: rateLimits, ...extra });

  it('reads both windows with each reset style', () => {
    const windows = quotaFromRateLimitEvent(
      base({
        primary: { used_percent: 12, window_minutes: 300, reset_after_seconds: 3600 },
        secondary: { used_percent: 30, window_minutes: 10080, resets_at: '2026-03-01T13:00:00Z' },
      }),
      NOW,
    );
    const ev = { source: 'codex_rate_limit_event' as const };
    expect(windows).toEqual([
      win({ ...ev, usedPercent: 12, resetAt: IN_1H }),
      win({ ...ev, windowKind: 'secondary', windowMinutes: 10080, usedPercent: 30, resetAt: IN_1H }),
    ]);
  });

  it('drops weekly windows without a reset but keeps a reset-less primary as inferred', () => {
    const windows = quotaFromRateLimitEvent(
      base({
        primary: { used_percent: 12, window_minutes: 300 },
        secondary: { used_percent: 30, window_minutes: 10080 },
      }),
      NOW,
    );
    expect(windows).toEqual([win({ source: 'codex_rate_limit_event', usedPercent: 12, precision: 'inferred' })]);
  });

  it('normalizes a weekly primary and still requires its reset', () => {
    expect(quotaFromRateLimitEvent(base({ primary: { used_percent: 5, window_minutes: 10080 } }), NOW)).toEqual([]);
    expect(quotaFromRateLimitEvent(base({ primary: { used_percent: 5, window_minutes: 10080, reset_at: IN_1H_S } }), NOW)).toEqual([
      win({ source: 'codex_rate_limit_event', windowKind: 'secondary', windowMinutes: 10080, usedPercent: 5, resetAt: IN_1H }),
    ]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['metered_limit_name', { metered_limit_name: 'codex_spark' }, 'codex_spark'],
    ['limit_id over model', { limit_id: 'Codex-Other', model: 'gpt-5' }, 'codex_other'],
    ['model', { model: 'gpt-5.3-codex-spark' }, 'gpt_5_3_codex_spark'],
    ['explicit codex', { limit_id: 'codex' }, 'account'],
    ['default', {}, 'account'],
  ])('limit id from %s', (_name, extra, key) => {
    const windows = quotaFromRateLimitEvent(base({ primary: { used_percent: 1, window_minutes: 300, reset_at: IN_1H_S } }, extra), NOW);
    expect(windows.map((w) => w.quotaKey)).toEqual([key]);
  });

  it('accepts SSE data without a type and raw JSON text', () => {
    const payload = { rate_limits: { primary: { used_percent: 1, window_minutes: 300, reset_at: IN_1H_S } } };
    expect(quotaFromRateLimitEvent(payload, NOW)).toHaveLength(1);
    expect(quotaFromRateLimitEvent(JSON.stringify(payload), NOW)).toHaveLength(1);
  });

  it.each<[string, unknown]>([
    ['other event type', { type: 'response.created', rate_limits: { primary: { used_percent: 1, window_minutes: 300 } } }],
    ['no rate_limits', { type: 'codex.rate_limits' }],
    ['percent out of range', base({ primary: { used_percent: 101, window_minutes: 300, reset_at: IN_1H_S } })],
    ['string window', base({ primary: { used_percent: 1, window_minutes: 'week', reset_at: IN_1H_S } })],
    ['null', null],
    ['garbage text', '{not json'],
  ])('yields nothing for %s', (_name, event) => {
    expect(quotaFromRateLimitEvent(event, NOW)).toEqual([]);
  });
});

describe('quotaFromErrorBody', () => {
  const err = { source: 'codex_rate_limit_error' as const, precision: 'observed' as const };

  it('reads a nested usage_limit_reached error', () => {
    const body = {
      error: { type: 'usage_limit_reached', message: 'limit', resets_at: IN_1H_S, window_minutes: 300, used_percent: 100 },
    };
    expect(quotaFromErrorBody(body, NOW)).toEqual([win({ ...err, usedPercent: 100, resetAt: IN_1H })]);
  });

  it('reads a top-level body with aliases and relative reset', () => {
    const body = { resets_in_seconds: 3600, limit_window_minutes: 10080, usage_percent: '100', kind: 'secondary' };
    expect(quotaFromErrorBody(JSON.stringify(body), NOW)).toEqual([
      win({ ...err, windowKind: 'secondary', windowMinutes: 10080, usedPercent: 100, resetAt: IN_1H }),
    ]);
  });

  it('allows a missing used percent and normalizes a weekly primary', () => {
    const body = { error: { reset_at: '2026-03-01T13:00:00Z', window_minutes: 10080 } };
    expect(quotaFromErrorBody(body, NOW)).toEqual([
      win({ ...err, windowKind: 'secondary', windowMinutes: 10080, usedPercent: null, resetAt: IN_1H }),
    ]);
  });

  it.each<[string, unknown]>([
    ['no window_minutes', { error: { type: 'usage_limit_reached', resets_at: IN_1H_S, used_percent: 100 } }],
    ['no reset', { error: { window_minutes: 300, used_percent: 100 } }],
    ['bad percent', { error: { window_minutes: 300, reset_at: IN_1H_S, used_percent: 250 } }],
    ['negative reset', { error: { window_minutes: 300, reset_at: -1 } }],
    ['negative relative reset', { error: { window_minutes: 300, reset_after_seconds: -1 } }],
    ['not an object', 'Too Many Requests'],
    ['array', [1]],
  ])('yields nothing for %s', (_name, body) => {
    expect(quotaFromErrorBody(body, NOW)).toEqual([]);
  });
});

describe('usageLimitResetAt', () => {
  const exhaustedHeaders = {
    'x-codex-primary-used-percent': '100',
    'x-codex-primary-window-minutes': '300',
    'x-codex-primary-reset-at': String(IN_1H_S),
    'x-codex-secondary-used-percent': '40',
    'x-codex-secondary-window-minutes': '10080',
    'x-codex-secondary-reset-at': String(IN_1H_S + 86_400),
  };

  it.each<[string, number, unknown, Record<string, string>, Date | null]>([
    ['body resets_at unix', 429, { error: { type: 'usage_limit_reached', resets_at: IN_1H_S } }, {}, IN_1H],
    ['body reset_at ISO', 429, { error: { code: 'usage_limit_reached', reset_at: '2026-03-01T13:00:00Z' } }, {}, IN_1H],
    ['body resets_in_seconds', 429, { error: { type: 'usage_limit_reached', resets_in_seconds: 3600 } }, {}, IN_1H],
    ['body reset_after_seconds at top', 429, { type: 'usage_limit_reached', reset_after_seconds: '3600' }, {}, IN_1H],
    ['workspace code', 429, { error: { code: 'workspace_member_usage_limit_reached', resets_at: IN_1H_S } }, {}, IN_1H],
    ['raw JSON text', 429, JSON.stringify({ error: { type: 'usage_limit_reached', resets_at: IN_1H_S } }), {}, IN_1H],
    ['header fallback', 429, { error: { type: 'usage_limit_reached' } }, exhaustedHeaders, IN_1H],
    ['no reset anywhere', 429, { error: { type: 'usage_limit_reached' } }, {}, null],
    ['past reset', 429, { error: { type: 'usage_limit_reached', resets_at: NOW_S - 10 } }, {}, null],
    ['other 429 code', 429, { error: { type: 'rate_limit_exceeded', resets_at: IN_1H_S } }, exhaustedHeaders, null],
    ['not a 429', 403, { error: { type: 'usage_limit_reached', resets_at: IN_1H_S } }, {}, null],
  ])('%s', (_name, status, body, headers, expected) => {
    expect(usageLimitResetAt(status, body, headers, NOW)).toEqual(expected);
  });

  it('picks the latest exhausted header window', () => {
    const headers = { ...exhaustedHeaders, 'x-codex-secondary-used-percent': '100' };
    expect(usageLimitResetAt(429, { error: { type: 'usage_limit_reached' } }, headers, NOW)).toEqual(
      new Date((IN_1H_S + 86_400) * 1000),
    );
  });
});

describe('quotaFromUsageDocument', () => {
  const usage = { source: 'codex_usage_api' as const, precision: 'authoritative' as const };

  it('reads the *_window variant with credits and additional limits', () => {
    const doc = {
      plan_type: 'pro',
      rate_limit: {
        allowed: true,
        limit_reached: false,
        primary_window: { used_percent: 20, limit_window_seconds: 18000, reset_after_seconds: 3600, reset_at: IN_1H_S },
        secondary_window: { used_percent: 50, limit_window_seconds: 604800, reset_at: IN_1H_S },
      },
      credits: { has_credits: true, balance: '12.5' },
      additional_rate_limits: [
        {
          metered_limit_name: 'codex_bengalfox',
          limit_name: 'GPT-5.3-Codex-Spark',
          rate_limit: { primary_window: { used_percent: 3, limit_window_seconds: 18000, reset_after_seconds: 3600 } },
        },
        'junk',
      ],
    };
    expect(quotaFromUsageDocument(doc, NOW)).toEqual({
      planType: 'pro',
      allowed: true,
      limitReached: false,
      creditsBalance: 12.5,
      windows: [
        win({ ...usage, usedPercent: 20, resetAt: IN_1H }),
        win({ ...usage, windowKind: 'secondary', windowMinutes: 10080, usedPercent: 50, resetAt: IN_1H }),
        win({ ...usage, quotaKey: 'codex_bengalfox', usedPercent: 3, resetAt: IN_1H, limitName: 'GPT-5.3-Codex-Spark' }),
      ],
    });
  });

  it('reads the short variant with defaults and ceil minutes', () => {
    const doc = {
      rate_limit: {
        primary: { used_percent: 1, limit_window_seconds: 61, resets_at: '2026-03-01T13:00:00Z' },
        secondary: { used_percent: 2, reset_after_seconds: 3600 },
      },
    };
    expect(quotaFromUsageDocument(doc, NOW)).toEqual({
      planType: null,
      allowed: null,
      limitReached: null,
      creditsBalance: null,
      windows: [
        win({ ...usage, windowMinutes: 2, usedPercent: 1, resetAt: IN_1H }),
        win({ ...usage, windowKind: 'secondary', windowMinutes: 10080, usedPercent: 2, resetAt: IN_1H }),
      ],
    });
  });

  it('stores a 604800 s primary as the weekly secondary', () => {
    const doc = { rate_limit: { primary_window: { used_percent: 9, limit_window_seconds: 604800, reset_after_seconds: 60 } } };
    expect(quotaFromUsageDocument(doc, NOW).windows).toEqual([
      win({ ...usage, windowKind: 'secondary', windowMinutes: 10080, usedPercent: 9, resetAt: new Date(NOW.getTime() + 60_000) }),
    ]);
  });

  it('keeps a reset-less primary but drops a reset-less weekly window', () => {
    const doc = {
      rate_limit: {
        primary_window: { used_percent: 9, limit_window_seconds: 18000 },
        secondary_window: { used_percent: 9, limit_window_seconds: 604800 },
      },
    };
    expect(quotaFromUsageDocument(doc, NOW).windows).toEqual([win({ ...usage, usedPercent: 9 })]);
  });

  it.each<[string, unknown]>([
    ['null window', { primary_window: null }],
    ['percent out of range', { primary_window: { used_percent: -3, reset_at: IN_1H_S } }],
    ['missing percent', { primary_window: { limit_window_seconds: 18000, reset_at: IN_1H_S } }],
    ['bad window seconds', { primary_window: { used_percent: 3, limit_window_seconds: 'x', reset_at: IN_1H_S } }],
    ['zero window seconds', { primary_window: { used_percent: 3, limit_window_seconds: 0, reset_at: IN_1H_S } }],
  ])('drops %s', (_name, rateLimit) => {
    expect(quotaFromUsageDocument({ plan_type: 'plus', rate_limit: rateLimit }, NOW)).toMatchObject({ planType: 'plus', windows: [] });
  });

  it('tolerates non-object documents', () => {
    expect(quotaFromUsageDocument('<html>', NOW)).toEqual({
      planType: null,
      windows: [],
      allowed: null,
      limitReached: null,
      creditsBalance: null,
    });
  });
});

describe('normalizeLimitId', () => {
  it.each([
    ['codex', 'codex'],
    ['Codex-Spark', 'codex_spark'],
    ['gpt-5.3-codex-spark', 'gpt_5_3_codex_spark'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeLimitId(input)).toBe(expected);
  });
});
