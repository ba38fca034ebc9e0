/// <reference types="vite/client" />

declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, unknown>
  export default component
}

interface Window {
  /** Handle for browser tests and debugging; see docs/dashboard.md. */
  __qasmat?: {
    protect: (files: File[], threshold: number) => void
    refresh: () => Promise<void>
  }
}
