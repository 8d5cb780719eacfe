import { PoolerError } from '../../errors.ts';
import { singleField, singleFile, type MultipartForm, type UploadedFile } from './multipart.ts';

/**
 * Audio transcription (runtime spec §1.3, §9.4): the upstream's `/backend-api/transcribe` takes a
 * multipart form. Pure: a parsed form in, the upstream form's parts out.
 */

/** The only model the native bridge route sends (the Codex CLI's dictation model). */
export const BACKEND_TRANSCRIBE_MODEL = 'gpt-4o-transcribe';
export const V1_TRANSCRIBE_MODELS = ['gpt-4o-transcribe', 'gpt-transcribe'] as const;

export type TranscriptionParts = { model: string; parts: (readonly [string, string | UploadedFile])[] };

const V1_TEXT_FIELDS = ['model', 'language', 'prompt', 'response_format', 'temperature'];
const V1_LIST_FIELDS = ['keywords', 'languages'];

/** Native bridge: `file` (+ `prompt`), the model forced; other fields are not forwarded. */
export function backendTranscription(form: MultipartForm): TranscriptionParts {
  const file = singleFile(form, 'file');
  const prompt = singleField(form, 'prompt');
  const parts: TranscriptionParts['parts'] = [['file', file], ['model', BACKEND_TRANSCRIBE_MODEL]];
  if (prompt !== undefined && prompt !== '') parts.push(['prompt', prompt]);
  return { model: BACKEND_TRANSCRIBE_MODEL, parts };
}

/** A list field sent as `name[]` (OpenAI SDKs) or repeated `name`: order and duplicates kept. */
function listField(form: MultipartForm, name: string): string[] {
  const values = [...(form.fields.get(name) ?? []), ...(form.fields.get(`${name}[]`) ?? [])];
  for (const value of values) {
    if (value.trim() === '') throw new PoolerError('invalid_request', `${name} entries must be non-blank strings`, { param: name });
  }
  return values;
}

/** `/v1/audio/transcriptions`: validated before anything is sent; unknown fields are refused by name. */
export function v1Transcription(form: MultipartForm): TranscriptionParts {
  for (const name of [...form.fields.keys(), ...form.files.keys()]) {
    const base = name.endsWith('[]') ? name.slice(0, -2) : name;
    if (name !== 'file' && !V1_TEXT_FIELDS.includes(name) && !V1_LIST_FIELDS.includes(base)) {
      throw new PoolerError('unsupported_parameter', `Unsupported parameter: ${name}`, { param: name });
    }
  }
  const model = singleField(form, 'model')?.trim();
  if (!model) throw new PoolerError('invalid_request', 'model is required', { param: 'model' });
  if (!(V1_TRANSCRIBE_MODELS as readonly string[]).includes(model)) throw new PoolerError('invalid_model', 'audio transcription model is not supported', { param: 'model' });
  const file = singleFile(form, 'file');
  if (file.bytes.length === 0) throw new PoolerError('invalid_request', 'file is empty', { param: 'file' });
  const temperature = singleField(form, 'temperature');
  if (temperature !== undefined) {
    const value = Number(temperature);
    if (temperature.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new PoolerError('invalid_request', 'temperature must be a number between 0 and 1', { param: 'temperature' });
  }
  const parts: TranscriptionParts['parts'] = [['file', file], ['model', model]];
  for (const name of ['language', 'prompt', 'response_format', 'temperature']) {
    const value = singleField(form, name);
    if (value !== undefined && value !== '') parts.push([name, value]);
  }
  for (const name of V1_LIST_FIELDS) for (const value of listField(form, name)) parts.push([`${name}[]`, value]);
  return { model, parts };
}

/** The upstream answer as a `/v1` client gets it: the upstream JSON without `languages`. */
export function v1TranscriptionAnswer(payload: Record<string, unknown>): Record<string, unknown> {
  const { languages: _languages, ...rest } = payload;
  return rest;
}
