// Vite config for the admin SPA. `node web/build.ts` (the root `prepare` script) builds it into
// web/dist; `npx vite --config web/vite.config.ts` serves it for development, proxying the API to
// a gateway on :4000 (start one with `npm start`).
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/admin/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { '/api': 'http://localhost:4000' },
  },
});
