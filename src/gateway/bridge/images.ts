import { PoolerError } from '../../errors.ts';
import { collectingRelay, type ClientRelay } from '../client-relay.ts';
import { redactedErrorBody } from '../translate/index.ts';
import { isMultipartBody, readMultipart, UPLOAD_FILE_LIMIT, type MultipartBody, type UploadedFile } from './multipart.ts';

/**
 * `/v1/images/generations` and `/v1/images/edits` (runtime spec §9.5): validated, then sent as one
 * Responses turn that must call the `image_generation` tool; the collected turn becomes the Images
 * API answer. Pure apart from reading a multipart body.
 */

export const IMAGE_MODELS = ['gpt-image-1', 'gpt-image-1.5', 'gpt-image-1-mini', 'gpt-image-2'] as const;
const SIZES = ['auto', '1024x1024', '1024x1536', '1536x1024'];
const QUALITIES = ['auto', 'low', 'medium', 'high'];
const BACKGROUNDS = ['auto', 'transparent', 'opaque'];
const FIDELITIES = ['low', 'high'];
const GENERATION_FIELDS = ['model', 'prompt', 'n', 'size', 'quality', 'background', 'response_format', 'user'];
const EDIT_FIELDS = [...GENERATION_FIELDS, 'input_fidelity', 'image', 'image[]', 'mask'];
// Said with the mask so the model knows which input image is the mask.
export const MASK_NOTE = 'The last image is a mask: edit only the areas of the first image where the mask is transparent.';

export type ImageRequest = {
  model: string;
  prompt: string;
  size: string;
  quality: string;
  background?: string;
  inputFidelity?: string;
  images: UploadedFile[];
  mask?: UploadedFile;
};

type Fields = Record<string, unknown>;

function oneOf(fields: Fields, key: string, allowed: readonly string[]): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !allowed.includes(value)) throw new PoolerError('invalid_request', `${key} must be one of ${allowed.join(', ')}`, { param: key });
  return value;
}

/** Validates the Images API fields shared by generations and edits (a JSON body or form fields). */
function parseCommon(fields: Fields, allowedKeys: readonly string[]): Omit<ImageRequest, 'images' | 'mask'> {
  for (const key of Object.keys(fields)) {
    if (!allowedKeys.includes(key)) throw new PoolerError('unsupported_parameter', `Unsupported parameter: ${key}`, { param: key });
  }
  const model = fields.model;
  if (typeof model !== 'string' || model.trim() === '') throw new PoolerError('invalid_request', 'model is required', { param: 'model' });
  if (!(IMAGE_MODELS as readonly string[]).includes(model.trim())) throw new PoolerError('invalid_model', 'image model is not supported', { param: 'model' });
  const prompt = fields.prompt;
  if (typeof prompt !== 'string' || prompt.trim() === '') throw new PoolerError('invalid_request', 'prompt is required', { param: 'prompt' });
  const n = fields.n;
  if (n !== undefined && n !== null && n !== 1 && n !== '1') throw new PoolerError('invalid_request', 'n must be 1', { param: 'n' });
  oneOf(fields, 'response_format', ['b64_json']);
  if (fields.user !== undefined && fields.user !== null && typeof fields.user !== 'string') throw new PoolerError('invalid_request', 'user must be a string or null', { param: 'user' });
  const background = oneOf(fields, 'background', BACKGROUNDS);
  const inputFidelity = oneOf(fields, 'input_fidelity', FIDELITIES);
  if (inputFidelity && (model === 'gpt-image-2' || model === 'gpt-image-1-mini')) throw new PoolerError('invalid_request', `input_fidelity is not supported for ${model}`, { param: 'input_fidelity' });
  return {
    model: model.trim(),
    prompt,
    size: oneOf(fields, 'size', SIZES) ?? 'auto',
    quality: oneOf(fields, 'quality', QUALITIES) ?? 'auto',
    ...(background ? { background } : {}),
    ...(inputFidelity ? { inputFidelity } : {}),
  };
}

/** `POST /v1/images/generations`: a JSON body. */
export function parseImageGeneration(body: unknown): ImageRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body) || isMultipartBody(body) || Buffer.isBuffer(body)) throw new PoolerError('invalid_request', 'request body must be a JSON object');
  return { ...parseCommon(body as Fields, GENERATION_FIELDS), images: [] };
}

function checkImage(file: UploadedFile, param: string): UploadedFile {
  if (file.bytes.length === 0) throw new PoolerError('invalid_request', `${param} is empty`, { param });
  if (file.bytes.length > UPLOAD_FILE_LIMIT) throw new PoolerError('request_too_large', `${param} is larger than ${UPLOAD_FILE_LIMIT} bytes`, { param });
  if (!/^image\/(png|jpeg|webp)$/.test(file.type)) throw new PoolerError('invalid_request', `${param} must be a png, jpeg or webp image`, { param });
  return file;
}

/** `POST /v1/images/edits`: multipart with one or more `image` (or `image[]`) files and an optional `mask`. */
export async function parseImageEdit(body: unknown): Promise<ImageRequest> {
  if (!isMultipartBody(body)) throw new PoolerError('invalid_request', 'image edits take a multipart/form-data body', { param: 'image' });
  const form = await readMultipart(body as MultipartBody);
  const fields: Fields = {};
  for (const [name, values] of form.fields) {
    if (values.length > 1) throw new PoolerError('invalid_request', `${name} must be given once`, { param: name });
    fields[name] = values[0];
  }
  for (const name of form.files.keys()) if (!EDIT_FIELDS.includes(name)) throw new PoolerError('unsupported_parameter', `Unsupported parameter: ${name}`, { param: name });
  if (fields.image !== undefined || fields['image[]'] !== undefined || fields.mask !== undefined) throw new PoolerError('invalid_request', 'image and mask must be files', { param: 'image' });
  const common = parseCommon(fields, EDIT_FIELDS);
  const images = [...(form.files.get('image') ?? []), ...(form.files.get('image[]') ?? [])].map((file) => checkImage(file, 'image'));
  if (images.length === 0) throw new PoolerError('invalid_request', 'image is required', { param: 'image' });
  const masks = form.files.get('mask') ?? [];
  if (masks.length > 1) throw new PoolerError('invalid_request', 'mask must be a single file', { param: 'mask' });
  return { ...common, images, ...(masks[0] ? { mask: checkImage(masks[0], 'mask') } : {}) };
}

const dataUrl = (file: UploadedFile) => `data:${file.type};base64,${file.bytes.toString('base64')}`;

/** The Responses turn that asks the model to call `image_generation` once (before §5.3 rewriting). */
export function imageTurnBody(request: ImageRequest, turnModel: string): Record<string, unknown> {
  const tool: Record<string, unknown> = { type: 'image_generation', model: request.model, size: request.size, quality: request.quality };
  if (request.background) tool.background = request.background;
  if (request.inputFidelity) tool.input_fidelity = request.inputFidelity;
  const images = [...request.images, ...(request.mask ? [request.mask] : [])];
  const text = request.mask ? `${request.prompt}\n\n${MASK_NOTE}` : request.prompt;
  return {
    model: turnModel,
    instructions: '',
    input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }, ...images.map((file) => ({ type: 'input_image', image_url: dataUrl(file) }))] }],
    tools: [tool],
    tool_choice: { type: 'image_generation' },
    stream: true,
    store: false,
  };
}

export type ImagesAnswer = { created: number; data: { b64_json: string; revised_prompt?: string }[]; usage?: Record<string, unknown> };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The Images API answer from a completed turn's output; null when it holds no image. */
export function imagesAnswer(response: Record<string, unknown>, now: number): ImagesAnswer | null {
  const output = Array.isArray(response.output) ? response.output.filter(isObject) : [];
  const calls = output.filter((item) => item.type === 'image_generation_call');
  if (calls.some((item) => item.status === 'failed')) return null;
  const data = calls.flatMap((item) =>
    typeof item.result === 'string' && item.result !== '' ? [{ b64_json: item.result, ...(typeof item.revised_prompt === 'string' ? { revised_prompt: item.revised_prompt } : {}) }] : [],
  );
  if (data.length === 0) return null;
  const toolUsage = isObject(response.tool_usage) && isObject(response.tool_usage.image_gen) ? response.tool_usage.image_gen : null;
  return { created: Math.floor(now / 1000), data, ...(toolUsage ? { usage: toolUsage } : {}) };
}

/** Collects the upstream turn and answers in the Images API shape; no image is a 502 `image_generation_failed`. */
export function imagesRelay(now: () => number, upstreamError: (status: number, body: Buffer | null) => { status: number; body: unknown }): ClientRelay {
  return collectingRelay((collected) => {
    const answer = collected.ok ? imagesAnswer(collected.response, now()) : null;
    return answer ? { status: 200, body: answer } : { status: 502, body: redactedErrorBody('image_generation_failed') };
  }, upstreamError);
}
