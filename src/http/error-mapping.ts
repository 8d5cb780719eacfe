import type { FastifyError } from 'fastify';
import { PoolerError } from '../errors.ts';

/** Maps framework failures (bad JSON, too large, wrong type) onto the one envelope. */
export function asPoolerError(error: unknown): PoolerError {
  if (error instanceof PoolerError) return error;
  const fastify = error as FastifyError;
  switch (fastify.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PoolerError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PoolerError('unsupported_media_type', 'content-type must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PoolerError('invalid_request', 'request body must be valid JSON');
    default:
      if (fastify instanceof SyntaxError || fastify.statusCode === 400) return new PoolerError('invalid_request', 'request body must be valid JSON');
      if (fastify.statusCode === 413) return new PoolerError('payload_too_large');
      if (fastify.statusCode === 415) return new PoolerError('unsupported_media_type');
      return new PoolerError('internal_error');
  }
}
