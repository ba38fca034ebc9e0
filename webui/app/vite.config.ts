/// <reference types="vitest/config" />
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

// The Go package embeds webui/dist; git keeps that folder alive through
// dist/.placeholder so a Go-only clone still builds. Vite's emptyOutDir would
// delete it, so we clean everything else ourselves and put it back.
const outDir = fileURLToPath(new URL('../dist', import.meta.url))
const placeholder = '.placeholder'

function keepPlaceholder(): Plugin {
  return {
    name: 'qasmat-keep-placeholder',
    apply: 'build',
    buildStart() {
      if (!existsSync(outDir)) return
      for (const entry of readdirSync(outDir)) {
        if (entry !== placeholder) rmSync(`${outDir}/${entry}`, { recursive: true, force: true })
      }
    },
    closeBundle() {
      if (!existsSync(`${outDir}/${placeholder}`)) writeFileSync(`${outDir}/${placeholder}`, '')
    },
  }
}

// `npm run dev` talks to a running proxy (qasmat dev) for the API and config.
const backend = process.env.QASMAT_BACKEND ?? 'http://127.0.0.1:3000'

export default defineConfig({
  // Relative asset URLs so the same build works at / behind the proxy and
  // under any sub-path of another web server.
  base: './',
  plugins: [vue(), keepPlaceholder()],
  build: {
    outDir,
    emptyOutDir: false,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': backend,
      '/config': backend,
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
    exclude: ['e2e/**', 'node_modules/**'],
  },
})
