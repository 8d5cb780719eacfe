export const formatNumber = (value: number | null | undefined) => (value == null ? '—' : new Intl.NumberFormat().format(value));

export const formatTime = (value: string | null | undefined) => (value ? new Date(value).toLocaleString() : '—');

/** "in 2 h 5 min" / "3 min ago" relative to `now`. */
export function relative(value: string | null | undefined, now = Date.now()): string {
  if (!value) return '—';
  const diff = new Date(value).getTime() - now;
  const abs = Math.abs(diff);
  // Pages refresh their clock every few seconds: a row written a moment ago is "just now", not "in 1 s".
  if (abs < 5_000) return 'just now';
  const minutes = Math.round(abs / 60_000);
  let text: string;
  if (abs < 60_000) text = `${Math.max(1, Math.round(abs / 1000))} s`;
  else if (minutes < 60) text = `${minutes} min`;
  else if (minutes < 48 * 60) text = `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  else text = `${Math.round(minutes / 1440)} d`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

export const windowName = (minutes: number) => (minutes >= 10080 ? 'weekly' : minutes >= 60 ? `${Math.round(minutes / 60)} h` : `${minutes} min`);

export const isoDaysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

/** Every UTC day (YYYY-MM-DD) from `from` to `to`, so a chart shows quiet days as zero instead of skipping them. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  const end = new Date(to).getTime();
  for (let t = Date.UTC(new Date(from).getUTCFullYear(), new Date(from).getUTCMonth(), new Date(from).getUTCDate()); t <= end && days.length < 400; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** Usage rows grouped by day, with a zero row for each missing day in the period. */
export function fillDays<R extends { key: string | null }>(rows: R[], from: string, to: string, zero: (day: string) => R): R[] {
  const byDay = new Map(rows.map((r) => [r.key ?? '', r]));
  return daysBetween(from, to).map((day) => byDay.get(day) ?? zero(day));
}
