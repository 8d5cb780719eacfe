import { describe, expect, test } from 'vitest';
import { classifyRefreshResponse } from './oauth-refresh.ts';

describe('classifyRefreshResponse', () => {
  test.each([
    [200, { access_token: 'a', refresh_token: 'r', expires_in: 60 }, 'refreshed'],
    [200, { nothing: true }, 'transient'],
    [400, { error: 'invalid_grant' }, 'reauth_required'],
    [401, { error: { code: 'refresh_token_reused' } }, 'reauth_required'],
    [400, { error: 'other', error_description: 'Your refresh token has been revoked' }, 'reauth_required'],
    [500, { error: 'invalid_grant' }, 'transient'],
    [429, null, 'transient'],
  ])('%i %j → %s', (status, body, kind) => {
    expect(classifyRefreshResponse(status, body, JSON.stringify(body)).kind).toBe(kind);
  });
});
