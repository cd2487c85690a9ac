import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies the mesh's API and feed to MESH_URL (an nginx with
// the module, e.g. the one `make demo` runs).  The build is static files
// only: nginx serves them at / beside the API.
const mesh = process.env.MESH_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: process.env.DASHBOARD_OUT || 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/mesh/v1/feed': { target: mesh, ws: true },
      '/mesh': mesh,
      '/api': mesh,
    },
  },
  test: {
    include: ['test/**/*.test.js'],
    environment: 'node',
  },
});
