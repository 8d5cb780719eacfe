import { describe, expect, test } from 'vitest';
import { PoolerError } from '../../errors.ts';
import { redactV1Error, safeErrorCode, v1GatewayError } from './errors.ts';

const redacted = (code: string) => ({ error: { message: 'upstream request failed', type: 'server_error', code } });

describe('redactV1Error (spec §9.9)', () => {
  test.each([
    ['a safe upstream code is kept, provider text dropped', 400, { error: { code: 'context_length_exceeded', message: 'secret prompt text', param: 'input' } }, 400, 'context_length_exceeded'],
    ['429 keeps its status', 429, '{"error":{"code":"rate_limit_exceeded","message":"Try again in 3s"}}', 429, 'rate_limit_exceeded'],
    ['raw bytes are parsed', 500, Buffer.from('{"error":{"code":"server_error"}}'), 500, 'server_error'],
    ['an unsafe code becomes upstream_error', 400, { error: { code: 'bad code with spaces', message: 'x' } }, 400, 'upstream_error'],
    ['a code longer than 80 chars becomes upstream_error', 400, { error: { code: 'x'.repeat(81) } }, 400, 'upstream_error'],
    ['an error without a code becomes upstream_error', 400, { error: { type: 'invalid_request_error', message: 'x' } }, 400, 'upstream_error'],
    ['a non-JSON 4xx body gives upstream_status', 403, '<html>Forbidden https://internal</html>', 403, 'upstream_status'],
    ['a non-JSON 5xx body gives upstream_error', 503, 'Service Unavailable', 503, 'upstream_error'],
    ['a JSON body without error gives upstream_status', 422, { detail: 'nope' }, 422, 'upstream_status'],
    ['an upstream 404 becomes 502', 404, { error: { code: 'not_found', message: '/backend-api/x' } }, 502, 'not_found'],
  ] as [string, number, unknown, number, string][])('%s', (_name, status, body, wantStatus, code) => {
    const reply = redactV1Error(status, body);
    expect(reply).toEqual({ status: wantStatus, body: redacted(code) });
    expect(JSON.stringify(reply)).not.toMatch(/secret|internal|Try again|backend-api/);
  });

  test('a streaming /v1/responses rejected before the stream: the gateway classification (spec §14 #42)', () => {
    expect(redactV1Error(400, { error: { code: 'invalid_request_error', message: 'secret' } }, { beforeStream: true })).toEqual({ status: 400, body: redacted('upstream_status') });
    expect(redactV1Error(429, { error: { code: 'usage_limit_reached' } }, { beforeStream: true })).toEqual({ status: 429, body: redacted('upstream_rate_limited') });
    expect(redactV1Error(500, 'x', { beforeStream: true })).toEqual({ status: 500, body: redacted('upstream_error') });
  });

  test('an upstream 404 on a request with input_file stays 404 with upstream_status (spec §9.2)', () => {
    expect(redactV1Error(404, 'Not Found', { inputFile: true })).toEqual({
      status: 404,
      body: { error: { code: 'upstream_status', message: 'upstream request failed', type: 'invalid_request_error', upstream_status: 404 } },
    });
  });

  test('safeErrorCode', () => {
    expect(safeErrorCode('a.b-c_9')).toBe('a.b-c_9');
    expect(safeErrorCode('a/b')).toBeNull();
    expect(safeErrorCode(42)).toBeNull();
  });
});

describe('v1GatewayError', () => {
  test('5xx, 401, 403 and 429 are redacted with their code; the status is kept', () => {
    expect(v1GatewayError(new PoolerError('no_eligible_backend'))).toEqual({ status: 503, body: redacted('no_eligible_backend') });
    expect(v1GatewayError(new PoolerError('model_not_allowed'))).toEqual({ status: 403, body: redacted('model_not_allowed') });
    expect(v1GatewayError(new PoolerError('rate_limited'))).toEqual({ status: 429, body: redacted('rate_limited') });
  });

  test('the bulkhead overload has its own body', () => {
    expect(v1GatewayError(new PoolerError('server_is_overloaded'))).toEqual({
      status: 503,
      body: { error: { message: 'gateway route class is temporarily overloaded', type: 'server_error', code: 'server_is_overloaded', param: null } },
    });
  });

  test('validation errors keep the runtime envelope with their param', () => {
    expect(v1GatewayError(new PoolerError('invalid_model', 'model is not available for this pool', { param: 'model' }))).toEqual({
      status: 400,
      body: { error: { message: 'model is not available for this pool', type: 'invalid_request_error', code: 'invalid_model', param: 'model' } },
    });
  });
});
