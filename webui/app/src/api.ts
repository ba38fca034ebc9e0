// The typed client for Qasmat's REST API: every request the dashboard makes
// goes through ApiClient, so error handling, credentials and response shapes
// live in one place.

/** Response shapes on the wire, as the spec gives them. */
export interface WireSuccess<T> {
  code: number
  status: string
  data: T
}

export interface WireError {
  code: number
  status: 'error'
  message: string
}

export interface WireStorage {
  servers: string[]
  locations?: string[]
  hosts?: string[]
  pings?: number[]
  connected?: boolean[]
}

export interface WireFile {
  filename: string
  size?: number
  k: number
  n?: number
  storage_servers?: string[]
  date_of_protection?: string
  last_renewal?: string
  expired?: boolean
  hash?: number[]
}

export interface WireFiles {
  files: WireFile[] | null
  percentage?: number
}

export interface WireConfiguration {
  version?: string
  limit?: number
  max_file_size?: number
  /** QKD transit mode, "AES" or "OTP"; absent without QKD. */
  transit?: string
}

/** What the dashboard works with after normalising the wire shapes. */
export interface StorageServer {
  name: string
  location: string
  host: string
  /** Round-trip time in milliseconds, null when unknown. */
  ping: number | null
  connected: boolean
}

export interface StoredFile {
  filename: string
  size: number
  k: number
  n: number
  storageServers: string[]
  protectedAt: Date | null
  lastRenewal: Date | null
  expired: boolean
  /** Lower-case hex of the file hash, '' when the server sent none. */
  hash: string
}

export interface FileListing {
  files: StoredFile[]
  /** How full the cluster is, 0 to 100. */
  percentage: number
}

export interface InstanceConfiguration {
  version: string
  /** The largest threshold: the number of connected storage servers. */
  limit: number
  maxFileSize: number
  /** QKD transit mode of the shares ("AES", "OTP"), '' when Noise alone protects them. */
  transit: string
}

export interface Retrieved {
  blob: Blob
  /** X-File-Integrity: true or false; null when the server sent no verdict. */
  integrity: boolean | null
}

export interface Progress {
  loaded: number
  /** 0 when the total is unknown. */
  total: number
}

export interface TransferOptions {
  onProgress?: (p: Progress) => void
  signal?: AbortSignal
}

/** An API or network failure with a message a person can read. */
export class ApiError extends Error {
  override name = 'ApiError'
  /** HTTP status, or 0 when the server could not be reached. */
  readonly status: number

  constructor(message: string, status: number) {
    super(message)
    this.status = status
  }
}

/** Thrown when the user cancelled a transfer. */
export class CancelledError extends Error {
  override name = 'CancelledError'
  constructor() {
    super('Cancelled')
  }
}

export interface ApiClientOptions {
  /** APIAddress from the configuration: absolute, or relative to the page. */
  baseUrl: string
  /** Public instances use CORS "*", which forbids credentials. */
  publicInstance: boolean
  fetch?: typeof fetch
  createXhr?: () => XMLHttpRequest
  /** Used to resolve a relative baseUrl; defaults to the page's base URI. */
  documentBase?: string
}

export class ApiClient {
  readonly baseUrl: string
  private readonly credentials: RequestCredentials
  private readonly fetchFn: typeof fetch
  private readonly createXhr: () => XMLHttpRequest

  constructor(opts: ApiClientOptions) {
    const base = opts.documentBase ?? (typeof document !== 'undefined' ? document.baseURI : 'http://localhost/')
    this.baseUrl = new URL(opts.baseUrl || '/api', base).href.replace(/\/+$/, '')
    // Private instances sit behind an auth proxy that may rely on cookies;
    // public ones answer with "Access-Control-Allow-Origin: *", which a
    // browser rejects for credentialed requests.
    this.credentials = opts.publicInstance ? 'same-origin' : 'include'
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.createXhr = opts.createXhr ?? (() => new XMLHttpRequest())
  }

  url(path: string): string {
    return `${this.baseUrl}/${path.replace(/^\/+/, '')}`
  }

  async storage(): Promise<StorageServer[]> {
    const data = await this.getJson<WireStorage>('storage')
    return normaliseStorage(data)
  }

  async files(): Promise<FileListing> {
    const data = await this.getJson<WireFiles>('file')
    return {
      files: (data?.files ?? []).map(normaliseFile),
      percentage: clampPercent(data?.percentage ?? 0),
    }
  }

  async configuration(): Promise<InstanceConfiguration> {
    const data = await this.getJson<WireConfiguration>('configuration')
    return {
      version: String(data?.version ?? ''),
      limit: Number(data?.limit ?? 0),
      maxFileSize: Number(data?.max_file_size ?? 0),
      transit: typeof data?.transit === 'string' ? data.transit : '',
    }
  }

  /**
   * Uploads one file. XHR rather than fetch because only XHR reports upload
   * progress. The threshold goes first: the server reads the multipart body
   * as a stream and needs k before the file's bytes arrive.
   */
  protect(file: Blob, filename: string, threshold: number, opts: TransferOptions = {}): Promise<void> {
    const form = new FormData()
    form.append('threshold', String(threshold))
    form.append('file', file, filename)

    return new Promise<void>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new CancelledError())
        return
      }
      const xhr = this.createXhr()
      const onAbort = () => xhr.abort()
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      const done = () => opts.signal?.removeEventListener('abort', onAbort)

      xhr.open('POST', this.url('file/protect'))
      xhr.withCredentials = this.credentials === 'include'
      xhr.upload.onprogress = (e: ProgressEvent) => {
        // The request body is the file plus multipart framing; report the
        // file's share of it so the numbers match the file the user chose.
        const fraction = e.lengthComputable && e.total > 0 ? e.loaded / e.total : 0
        opts.onProgress?.({ loaded: Math.round(fraction * file.size), total: file.size })
      }
      xhr.onload = () => {
        done()
        if (xhr.status >= 200 && xhr.status < 300) {
          opts.onProgress?.({ loaded: file.size, total: file.size })
          resolve()
        } else {
          reject(errorFromBody(xhr.status, xhr.statusText, xhr.responseText))
        }
      }
      xhr.onerror = () => {
        done()
        reject(unreachable(this.baseUrl))
      }
      xhr.onabort = () => {
        done()
        reject(new CancelledError())
      }
      xhr.send(form)
    })
  }

  /** Downloads a file, reading the body as a stream to report progress. */
  async retrieve(name: string, opts: TransferOptions & { expectedSize?: number } = {}): Promise<Retrieved> {
    const res = await this.request('file/retrieve', {
      method: 'POST',
      body: new URLSearchParams({ name }),
      signal: opts.signal ?? null,
    })
    if (!res.ok) throw await errorFromResponse(res)

    const integrity = parseIntegrity(res.headers.get('X-File-Integrity'))
    const length = Number(res.headers.get('Content-Length') ?? '')
    const total = Number.isFinite(length) && length > 0 ? length : (opts.expectedSize ?? 0)
    const type = res.headers.get('Content-Type') ?? 'application/octet-stream'

    if (!res.body) {
      const blob = await res.blob()
      opts.onProgress?.({ loaded: blob.size, total: blob.size })
      return { blob, integrity }
    }

    const reader = res.body.getReader()
    const chunks: Uint8Array<ArrayBuffer>[] = []
    let loaded = 0
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        chunks.push(value)
        loaded += value.byteLength
        opts.onProgress?.({ loaded, total })
      }
    } catch (err) {
      throw opts.signal?.aborted ? new CancelledError() : unreachable(this.baseUrl, err)
    }
    return { blob: new Blob(chunks, { type }), integrity }
  }

  /** Renews a file's shares now (POST /api/file/renew); the server answers with the file. */
  async renew(name: string): Promise<void> {
    const res = await this.request('file/renew', { method: 'POST', body: new URLSearchParams({ name }) })
    if (!res.ok) throw await errorFromResponse(res)
    await readEnvelope<unknown>(res)
  }

  async remove(name: string): Promise<void> {
    const res = await this.request('file/remove', { method: 'POST', body: new URLSearchParams({ name }) })
    if (!res.ok) throw await errorFromResponse(res)
    await readEnvelope<unknown>(res)
  }

  private async getJson<T>(path: string): Promise<T> {
    const res = await this.request(path, { method: 'GET' })
    if (!res.ok) throw await errorFromResponse(res)
    return readEnvelope<T>(res)
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchFn(this.url(path), {
        ...init,
        credentials: this.credentials,
      })
    } catch (err) {
      if (init.signal?.aborted) throw new CancelledError()
      throw unreachable(this.baseUrl, err)
    }
  }
}

async function readEnvelope<T>(res: Response): Promise<T> {
  const text = await res.text()
  if (text.trim() === '') return null as T
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new ApiError(`The server sent an answer that is not JSON (HTTP ${res.status}).`, res.status)
  }
  if (isErrorEnvelope(body)) throw new ApiError(body.message, body.code || res.status)
  if (body && typeof body === 'object' && 'data' in body) return (body as WireSuccess<T>).data
  throw new ApiError(`The server sent an unexpected answer (HTTP ${res.status}).`, res.status)
}

function isErrorEnvelope(body: unknown): body is WireError {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { status?: unknown }).status === 'error' &&
    typeof (body as { message?: unknown }).message === 'string'
  )
}

async function errorFromResponse(res: Response): Promise<ApiError> {
  let text = ''
  try {
    text = await res.text()
  } catch {
    // The body is only a nicer message; the status still tells what happened.
  }
  return errorFromBody(res.status, res.statusText, text)
}

/** Turns a failed answer into the spec's `message`, or a sentence about the status. */
export function errorFromBody(status: number, statusText: string, text: string): ApiError {
  try {
    const body: unknown = JSON.parse(text)
    if (body && typeof body === 'object') {
      const message = (body as { message?: unknown }).message
      if (typeof message === 'string' && message.trim() !== '') return new ApiError(message, status)
    }
  } catch {
    // Not JSON: a reverse proxy's HTML page, for example.
  }
  return new ApiError(describeStatus(status, statusText), status)
}

function describeStatus(status: number, statusText: string): string {
  switch (status) {
    case 401:
    case 403:
      return 'You are not signed in, or not allowed to do this. Sign in again and retry.'
    case 404:
      return 'The server does not know this address. Check the API address in Settings.'
    case 413:
      return 'The file is larger than this instance accepts.'
    case 502:
    case 503:
    case 504:
      return 'The Qasmat server is unavailable right now. Try again in a moment.'
    default:
      return `The server answered ${status}${statusText ? ` ${statusText}` : ''}.`
  }
}

function unreachable(baseUrl: string, cause?: unknown): ApiError {
  const err = new ApiError(
    `Cannot reach the Qasmat server at ${baseUrl}. Check your connection and the API address in Settings.`,
    0,
  )
  if (cause !== undefined) (err as { cause?: unknown }).cause = cause
  return err
}

export function parseIntegrity(value: string | null): boolean | null {
  if (value === null) return null
  const v = value.trim().toLowerCase()
  if (v === 'true') return true
  if (v === 'false') return false
  return null
}

function normaliseStorage(data: WireStorage | null): StorageServer[] {
  const names = data?.servers ?? []
  return names.map((name, i) => ({
    name,
    location: data?.locations?.[i] ?? '',
    host: data?.hosts?.[i] ?? '',
    ping: typeof data?.pings?.[i] === 'number' && data.pings[i]! >= 0 ? data.pings[i]! : null,
    // The first spec had no `connected`: every listed server was connected.
    connected: data?.connected?.[i] ?? true,
  }))
}

function normaliseFile(f: WireFile): StoredFile {
  const servers = f.storage_servers ?? []
  return {
    filename: f.filename,
    size: Number(f.size ?? 0),
    k: Number(f.k),
    n: Number(f.n ?? servers.length),
    storageServers: servers,
    protectedAt: parseDate(f.date_of_protection),
    lastRenewal: parseDate(f.last_renewal),
    expired: Boolean(f.expired),
    hash: hashToHex(f.hash ?? []),
  }
}

function parseDate(s: string | undefined): Date | null {
  if (!s) return null
  const d = new Date(s)
  // Go's zero time marks "never"; show it as nothing rather than year 1.
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return null
  return d
}

export function hashToHex(bytes: number[]): string {
  return bytes.map((b) => (b >>> 0).toString(16).padStart(2, '0')).join('')
}

function clampPercent(p: number): number {
  if (!Number.isFinite(p)) return 0
  return Math.min(100, Math.max(0, p))
}
