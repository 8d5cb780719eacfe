import { UUID_PATTERN } from '../db/index.ts';
import { z } from 'zod';
import { invalidInput } from '../errors.ts';

/** Parses request input once with zod; the first problem becomes a 400 `invalid_request` naming the field. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map(String).join('.') || null;
  throw invalidInput(param ? `${param}: ${issue.message}` : issue.message, param);
}

export const UUID = z.string().trim().regex(UUID_PATTERN, 'must be an id (uuid)');
export const ID_PARAMS = z.object({ id: UUID });
/** RFC 3339 time in a query string. */
export const TIME = z.string().trim().max(64).refine((v) => !Number.isNaN(Date.parse(v)), 'must be an RFC 3339 time').transform((v) => new Date(v));
export const LIMIT = z.coerce.number().int().min(1).max(200).optional();
export const CURSOR = z.string().trim().max(200).optional();
