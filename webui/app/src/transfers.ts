// Uploads and downloads in progress: a queue that protects one file at a
// time, downloads that start at once, progress, speed and cancellation.
import { reactive } from 'vue'
import { CancelledError, type ApiClient, type Progress } from './api'
import { formatBytes } from './format'

export type TransferKind = 'upload' | 'download'
export type TransferState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

export interface Transfer {
  id: number
  kind: TransferKind
  name: string
  loaded: number
  /** 0 when unknown. */
  total: number
  /** Bytes per second, smoothed. */
  speed: number
  state: TransferState
  error: string
  /** Downloads only: the X-File-Integrity verdict. */
  integrity: boolean | null
  threshold: number
}

export interface TransferHooks {
  api: () => ApiClient
  /** Hands a finished download to the browser. */
  save: (blob: Blob, filename: string) => void
  /** Called after each successful upload so the file list can refresh. */
  onUploaded?: (name: string) => void
  /** 0 = no limit known. */
  maxFileSize?: () => number
  now?: () => number
}

interface Pending {
  file: Blob
}

export function createTransfers(hooks: TransferHooks) {
  const items = reactive<Transfer[]>([])
  const controllers = new Map<number, AbortController>()
  const pending = new Map<number, Pending>()
  const now = hooks.now ?? (() => performance.now())
  let nextId = 1
  let uploading = false

  function add(kind: TransferKind, name: string, total: number, threshold = 0): Transfer {
    items.unshift({ id: nextId++, kind, name, loaded: 0, total, speed: 0, state: 'queued', error: '', integrity: null, threshold })
    // Return the reactive proxy so later writes update the view.
    return items[0]!
  }

  function meter(t: Transfer): (p: Progress) => void {
    let lastTime = now()
    let lastLoaded = 0
    return (p) => {
      t.loaded = p.loaded
      if (p.total > 0) t.total = p.total
      const time = now()
      const dt = (time - lastTime) / 1000
      // Short intervals give jumpy numbers; average over at least 250 ms.
      if (dt >= 0.25) {
        const rate = (p.loaded - lastLoaded) / dt
        t.speed = t.speed === 0 ? rate : 0.7 * t.speed + 0.3 * rate
        lastTime = time
        lastLoaded = p.loaded
      }
    }
  }

  function fail(t: Transfer, err: unknown) {
    if (err instanceof CancelledError) {
      t.state = 'cancelled'
    } else {
      t.state = 'failed'
      t.error = err instanceof Error && err.message ? err.message : 'Something went wrong.'
    }
    t.speed = 0
  }

  async function pump(): Promise<void> {
    if (uploading) return
    const t = [...items].reverse().find((x) => x.kind === 'upload' && x.state === 'queued')
    if (!t) return
    const job = pending.get(t.id)
    pending.delete(t.id)
    if (!job) return
    uploading = true
    const ctl = new AbortController()
    controllers.set(t.id, ctl)
    t.state = 'running'
    try {
      await hooks.api().protect(job.file, t.name, t.threshold, { onProgress: meter(t), signal: ctl.signal })
      t.state = 'done'
      t.loaded = t.total
      t.speed = 0
      hooks.onUploaded?.(t.name)
    } catch (err) {
      fail(t, err)
    } finally {
      controllers.delete(t.id)
      uploading = false
    }
    await pump()
  }

  /** Queues files for protection with threshold k; they upload one after another. */
  function enqueueUploads(files: Iterable<File>, k: number): Transfer[] {
    const added: Transfer[] = []
    const limit = hooks.maxFileSize?.() ?? 0
    for (const file of files) {
      const t = add('upload', file.name, file.size, k)
      added.push(t)
      if (limit > 0 && file.size > limit) {
        t.state = 'failed'
        t.error = `${file.name} is ${formatBytes(file.size)}; this instance accepts files up to ${formatBytes(limit)}.`
        continue
      }
      pending.set(t.id, { file })
    }
    void pump()
    return added
  }

  async function download(name: string, expectedSize = 0): Promise<Transfer> {
    const t = add('download', name, expectedSize)
    const ctl = new AbortController()
    controllers.set(t.id, ctl)
    t.state = 'running'
    try {
      const got = await hooks.api().retrieve(name, { onProgress: meter(t), signal: ctl.signal, expectedSize })
      t.integrity = got.integrity
      t.loaded = got.blob.size
      t.total = got.blob.size
      t.state = 'done'
      t.speed = 0
      hooks.save(got.blob, name)
    } catch (err) {
      fail(t, err)
    } finally {
      controllers.delete(t.id)
    }
    return t
  }

  function cancel(id: number) {
    const t = items.find((x) => x.id === id)
    if (!t) return
    if (t.state === 'queued') {
      pending.delete(id)
      t.state = 'cancelled'
      return
    }
    controllers.get(id)?.abort()
  }

  function dismiss(id: number) {
    const i = items.findIndex((x) => x.id === id)
    if (i >= 0 && items[i]!.state !== 'running' && items[i]!.state !== 'queued') items.splice(i, 1)
  }

  function clearFinished() {
    for (let i = items.length - 1; i >= 0; i--) {
      const s = items[i]!.state
      if (s !== 'running' && s !== 'queued') items.splice(i, 1)
    }
  }

  return { items, enqueueUploads, download, cancel, dismiss, clearFinished }
}

export type Transfers = ReturnType<typeof createTransfers>
