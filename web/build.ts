// Builds the admin UI into web/dist. Run by the root `prepare` script, so a plain `npm install`
// leaves a built UI that `npm start` serves at /admin/. When the build tooling is absent (an
// `npm ci --omit=dev` production install), it says so and succeeds: the server then answers
// /admin with a 503 that explains how to build it.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const tooling = ['vite', '@vitejs/plugin-react', 'react', 'react-dom', '@mantine/core'];
const missing = tooling.filter((name) => {
  try {
    import.meta.resolve(name);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0) {
  process.stderr.write(`admin UI build skipped: dev dependencies not installed (${missing.join(', ')})\n`);
  process.exit(0);
}

const { build } = await import('vite');
const configFile = fileURLToPath(new URL('./vite.config.ts', import.meta.url));
const started = Date.now();
await build({ configFile });
const index = fileURLToPath(new URL('./dist/index.html', import.meta.url));
if (!existsSync(index)) {
  process.stderr.write('admin UI build failed: web/dist/index.html is missing\n');
  process.exit(1);
}
// Pre-compressed copies, served by @fastify/static to browsers that accept them.
const dist = fileURLToPath(new URL('./dist/', import.meta.url));
const compressible = (name: string) => /\.(js|css|html|svg|json)$/.test(name);
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !compressible(entry.name)) continue;
  const path = join(entry.parentPath, entry.name);
  const body = readFileSync(path);
  if (body.length < 1024) continue;
  writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }));
  writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
}
process.stderr.write(`admin UI built into web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
