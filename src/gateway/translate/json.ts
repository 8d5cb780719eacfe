/** Small JSON helpers shared by the `/v1` translators (no I/O, no state). */
export type JsonObject = Record<string, unknown>;

export const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

export const isNonBlank = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

export const isPositiveInt = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

/** An SSE frame for a Chat Completions stream. */
export const dataFrame = (payload: unknown): string => `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;

/** An SSE frame with an `event:` line, as `/v1/responses` streams carry. */
export const eventFrame = (type: string, payload: JsonObject): string => `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;
