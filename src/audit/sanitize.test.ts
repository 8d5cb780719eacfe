import { describe, expect, test } from 'vitest';
import { REDACTED, sanitizeDetails } from './sanitize.ts';

describe('sanitizeDetails', () => {
  test('redacts sensitive keys recursively and keeps exempt ones', () => {
    expect(sanitizeDetails({ api_key_id: 'k1', refresh_token: 'x', nested: [{ Authorization: 'Bearer y', ok: 1 }], previous_response_id: 'r', label: 'fine' })).toEqual({
      api_key_id: 'k1',
      refresh_token: REDACTED,
      nested: [{ Authorization: REDACTED, ok: 1 }],
      previous_response_id: REDACTED,
      label: 'fine',
    });
  });
});
