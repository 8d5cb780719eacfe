import { PoolerError, type PoolerCode } from '../../errors.ts';

/**
 * Codes a `/v1` request translation can fail with (all 400, all naming a `param`).
 * `invalid_json_schema` and `invalid_function_parameters` are not in ERROR_CATALOGUE yet: until they
 * are, they pass its type by a cast. Status and message are always explicit, so no catalogue lookup
 * happens for them and the app's error handler renders them like any other PoolerError.
 */
export type V1RequestCode = 'invalid_request' | 'unsupported_parameter' | 'invalid_json_schema' | 'invalid_function_parameters';

export function v1RequestError(code: V1RequestCode, message: string, param: string | null): PoolerError {
  return new PoolerError(code as PoolerCode, message, { param, status: 400 });
}

export const invalidRequest = (message: string, param: string | null): PoolerError => v1RequestError('invalid_request', message, param);

export const unsupportedParameter = (param: string): PoolerError => v1RequestError('unsupported_parameter', `Unsupported parameter: ${param}`, param);
