import { describe, expect, test } from 'vitest';
import { addDays, dayStart, parseUtcDay, totalsOf, utcDayOf } from './rollups.ts';

describe('UTC days', () => {
  test.each([
    ['2026-11-27', '2026-11-27'],
    [' 2024-02-29 ', '2024-02-29'],
    [new Date('2026-11-27T23:59:59.999Z'), '2026-11-27'],
    [new Date('2026-11-28T00:30:00+01:00'), '2026-11-27'],
  ])('parseUtcDay(%s) = %s', (input, day) => expect(parseUtcDay(input)).toBe(day));

  test.each(['2026-02-30', '2023-02-29', '2026-13-01', '26-11-27', '2026-11-27T00:00:00Z', 'yesterday'])('%s is refused', (input) => {
    expect(() => parseUtcDay(input)).toThrow(/YYYY-MM-DD/);
  });

  test('an invalid Date is refused', () => expect(() => parseUtcDay(new Date('nope'))).toThrow(/not a valid date/));

  test('day arithmetic crosses months, years and leap days in UTC', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(dayStart('2026-11-27').toISOString()).toBe('2026-11-27T00:00:00.000Z');
    expect(utcDayOf(new Date('2026-03-29T01:30:00Z'))).toBe('2026-03-29');
  });
});

test('totalsOf reads numeric strings and treats missing sums as zero', () => {
  expect(totalsOf(undefined).requests).toBe(0);
  expect(totalsOf({ request_count: '3', settled_cost_micros: '7100.500000000', estimated_cost_micros: null } as never)).toMatchObject({ requests: 3, settledCostMicros: 7100.5, estimatedCostMicros: 0 });
});
