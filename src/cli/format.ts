import type { CliIo } from './io.ts';

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Exactly one JSON document and a newline: nothing else may reach stdout with --json. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

export const isoOrNull = (date: Date | null | undefined): string | null => (date ? date.toISOString() : null);

/** `2026-11-27 21:05Z`: minute precision reads well in a table. */
export function shortDate(date: Date | null | undefined): string {
  if (!date) return '-';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

export const dash = (value: string | number | null | undefined): string => (value === null || value === undefined || value === '' ? '-' : String(value));
