import { describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError, CancelledError, parseIntegrity } from './api'

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })
}

function client(fetchFn: typeof fetch, extra: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}) {
  return new ApiClient({ baseUrl: '/api', publicInstance: true, fetch: fetchFn, documentBase: 'http://dash.test/app/', ...extra })
}

/** Records what the client does with an XMLHttpRequest and lets the test answer. */
class FakeXhr {
  method = ''
  url = ''
  body: unknown = null
  withCredentials = false
  status = 0
  statusText = ''
  responseText = ''
  aborted = false
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null }
  onload: (() => void) | null = null
  onerror: (() => void) | null = null
  onabort: (() => void) | null = null

  open(method: string, url: string) {
    this.method = method
    this.url = url
  }
  send(body: unknown) {
    this.body = body
  }
  abort() {
    this.aborted = true
    this.onabort?.()
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true } as ProgressEvent)
  }
  answer(status: number, body: string) {
    this.status = status
    this.responseText = body
    this.onload?.()
  }
}

function xhrClient(extra: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}) {
  const made: FakeXhr[] = []
  const c = client(vi.fn(), {
    createXhr: () => {
      const x = new FakeXhr()
      made.push(x)
      return x as unknown as XMLHttpRequest
    },
    ...extra,
  })
  return { c, made }
}

describe('ApiClient requests', () => {
  it('resolves the API address against the page and joins paths', () => {
    expect(client(vi.fn()).url('storage')).toBe('http://dash.test/api/storage')
    expect(client(vi.fn(), { baseUrl: 'https://q.example/api/' }).url('/file')).toBe('https://q.example/api/file')
    expect(client(vi.fn(), { baseUrl: 'api' }).url('file')).toBe('http://dash.test/app/api/file')
  })

  it('reads storage servers from the success envelope', async () => {
    const fetchFn = vi.fn(async () =>
      json({
        code: 200,
        status: 'success',
        data: { servers: ['a', 'b'], locations: ['Paris', ''], hosts: ['h1', 'h2'], pings: [4.2, -1], connected: [true, false] },
      }),
    )
    const servers = await client(fetchFn).storage()
    expect(servers).toEqual([
      { name: 'a', location: 'Paris', host: 'h1', ping: 4.2, connected: true },
      { name: 'b', location: '', host: 'h2', ping: null, connected: false },
    ])
    expect(fetchFn).toHaveBeenCalledWith('http://dash.test/api/storage', expect.objectContaining({ method: 'GET' }))
  })

  it('reads files, hex-encodes the hash and parses dates', async () => {
    const fetchFn = vi.fn(async () =>
      json({
        code: 200,
        status: 'success',
        data: {
          files: [
            {
              filename: 'a.txt',
              size: 12,
              k: 2,
              storage_servers: ['s1', 's2', 's3'],
              date_of_protection: '2026-01-02T03:04:05Z',
              last_renewal: '0001-01-01T00:00:00Z',
              expired: true,
              hash: [0, 15, 255],
            },
          ],
          percentage: 37.5,
        },
      }),
    )
    const { files, percentage } = await client(fetchFn).files()
    expect(percentage).toBe(37.5)
    expect(files[0]).toMatchObject({ filename: 'a.txt', size: 12, k: 2, n: 3, expired: true, hash: '000fff', lastRenewal: null })
    expect(files[0]!.protectedAt?.toISOString()).toBe('2026-01-02T03:04:05.000Z')
  })

  it('turns the error envelope into an ApiError carrying its message', async () => {
    const fetchFn = vi.fn(async () => json({ code: 400, status: 'error', message: 'You have no file named x.' }, 400))
    const err = await client(fetchFn).remove('x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).message).toBe('You have no file named x.')
    expect((err as ApiError).status).toBe(400)
  })

  it('explains a status in words when the body is not the JSON error shape', async () => {
    const fetchFn = vi.fn(async () => new Response('<html>Bad Gateway</html>', { status: 502 }))
    const err = (await client(fetchFn).files().catch((e: unknown) => e)) as ApiError
    expect(err.message).toMatch(/unavailable right now/)
    expect(err.message).not.toMatch(/html/i)
  })

  it('says the server cannot be reached when fetch itself fails', async () => {
    const fetchFn = vi.fn(async () => {
      throw new TypeError('Failed to fetch')
    })
    const err = (await client(fetchFn).storage().catch((e: unknown) => e)) as ApiError
    expect(err.status).toBe(0)
    expect(err.message).toBe(
      'Cannot reach the Qasmat server at http://dash.test/api. Check your connection and the API address in Settings.',
    )
  })

  it('sends credentials only to private instances', async () => {
    const fetchFn = vi.fn(async () => json({ code: 200, status: 'success', data: { version: '1', limit: 5, max_file_size: 9 } }))
    await client(fetchFn, { publicInstance: false }).configuration()
    await client(fetchFn, { publicInstance: true }).configuration()
    expect(fetchFn.mock.calls.map((c) => (c as unknown as [string, RequestInit])[1].credentials)).toEqual(['include', 'same-origin'])
  })

  it('returns the configuration with camel-case names', async () => {
    const fetchFn = vi.fn(async () => json({ code: 200, status: 'success', data: { version: '1.2', limit: 5, max_file_size: 9 } }))
    expect(await client(fetchFn).configuration()).toEqual({ version: '1.2', limit: 5, maxFileSize: 9, transit: '' })
  })

  it('reports the QKD transit mode when the proxy has one', async () => {
    const fetchFn = vi.fn(async () => json({ code: 200, status: 'success', data: { version: '1', limit: 3, max_file_size: 9, transit: 'OTP' } }))
    expect((await client(fetchFn).configuration()).transit).toBe('OTP')
  })

  it('posts the name as a form when renewing', async () => {
    const fetchFn = vi.fn(async () => json({ code: 200, status: 'success', data: {} }))
    await client(fetchFn).renew('a b.txt')
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('http://dash.test/api/file/renew')
    expect(init.method).toBe('POST')
    expect((init.body as URLSearchParams).get('name')).toBe('a b.txt')
  })

  it('posts the name as a form when removing', async () => {
    const fetchFn = vi.fn(async () => json({ code: 200, status: 'success', data: null }))
    await client(fetchFn).remove('a b.txt')
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('http://dash.test/api/file/remove')
    expect(init.method).toBe('POST')
    expect((init.body as URLSearchParams).get('name')).toBe('a b.txt')
  })
})

describe('ApiClient.retrieve', () => {
  function bytesResponse(bytes: Uint8Array, integrity: string | null) {
    const headers: Record<string, string> = { 'Content-Length': String(bytes.length) }
    if (integrity !== null) headers['X-File-Integrity'] = integrity
    // Two chunks, so progress is reported more than once.
    const half = Math.floor(bytes.length / 2)
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(bytes.slice(0, half))
        ctl.enqueue(bytes.slice(half))
        ctl.close()
      },
    })
    return new Response(body, { status: 200, headers })
  }

  it('returns the bytes, reports progress and reads X-File-Integrity', async () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7])
    const fetchFn = vi.fn(async () => bytesResponse(bytes, 'true'))
    const progress: [number, number][] = []
    const got = await client(fetchFn).retrieve('f.bin', { onProgress: (p) => progress.push([p.loaded, p.total]) })
    expect(new Uint8Array(await got.blob.arrayBuffer())).toEqual(bytes)
    expect(got.integrity).toBe(true)
    expect(progress).toEqual([
      [3, 7],
      [7, 7],
    ])
    const init = (fetchFn.mock.calls[0] as unknown as [string, RequestInit])[1]
    expect((init.body as URLSearchParams).get('name')).toBe('f.bin')
  })

  it('reports a failed integrity check as false and a missing header as null', async () => {
    const failed = await client(vi.fn(async () => bytesResponse(new Uint8Array([1]), 'false'))).retrieve('x')
    expect(failed.integrity).toBe(false)
    const unknown = await client(vi.fn(async () => bytesResponse(new Uint8Array([1]), null))).retrieve('x')
    expect(unknown.integrity).toBeNull()
    expect(parseIntegrity(' TRUE ')).toBe(true)
    expect(parseIntegrity('maybe')).toBeNull()
  })

  it('passes the API error message through', async () => {
    const fetchFn = vi.fn(async () => json({ code: 503, status: 'error', message: 'Storage server s2 is not connected.' }, 503))
    await expect(client(fetchFn).retrieve('x')).rejects.toThrow('Storage server s2 is not connected.')
  })

  it('throws CancelledError when aborted', async () => {
    const ctl = new AbortController()
    const fetchFn = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      ctl.abort()
      expect(init?.signal).toBe(ctl.signal)
      throw new DOMException('aborted', 'AbortError')
    })
    await expect(client(fetchFn).retrieve('x', { signal: ctl.signal })).rejects.toBeInstanceOf(CancelledError)
  })
})

describe('ApiClient.protect', () => {
  it('sends threshold before file in the multipart body', async () => {
    const { c, made } = xhrClient()
    // A File, as from a file input (happy-dom drops the name of a bare Blob).
    const done = c.protect(new File(['hello'], 'hello.txt'), 'hello.txt', 2)
    const x = made[0]!
    expect(x.method).toBe('POST')
    expect(x.url).toBe('http://dash.test/api/file/protect')
    const form = x.body as FormData
    expect([...form.keys()]).toEqual(['threshold', 'file'])
    expect(form.get('threshold')).toBe('2')
    const file = form.get('file') as File
    expect(file.name).toBe('hello.txt')
    expect(await file.text()).toBe('hello')
    x.answer(200, JSON.stringify({ code: 200, status: 'success', data: null }))
    await expect(done).resolves.toBeUndefined()
  })

  it('reports progress in file bytes, not multipart bytes', async () => {
    const { c, made } = xhrClient()
    const seen: number[] = []
    const done = c.protect(new Blob(['x'.repeat(100)]), 'a', 2, { onProgress: (p) => seen.push(p.loaded) })
    made[0]!.progress(100, 200)
    made[0]!.answer(200, '{"code":200,"status":"success","data":null}')
    await done
    expect(seen).toEqual([50, 100])
  })

  it('rejects with the API message, e.g. a threshold above the server count', async () => {
    const { c, made } = xhrClient()
    const done = c.protect(new Blob(['x']), 'a', 9)
    made[0]!.answer(400, JSON.stringify({ code: 400, status: 'error', message: 'The threshold (9) is greater than the number of servers (3).' }))
    await expect(done).rejects.toThrow('The threshold (9) is greater than the number of servers (3).')
  })

  it('aborts the request when the signal fires', async () => {
    const { c, made } = xhrClient()
    const ctl = new AbortController()
    const done = c.protect(new Blob(['x']), 'a', 2, { signal: ctl.signal })
    ctl.abort()
    await expect(done).rejects.toBeInstanceOf(CancelledError)
    expect(made[0]!.aborted).toBe(true)
  })

  it('sets withCredentials for private instances only', () => {
    const priv = xhrClient({ publicInstance: false })
    void priv.c.protect(new Blob(['x']), 'a', 2).catch(() => {})
    expect(priv.made[0]!.withCredentials).toBe(true)
    const pub = xhrClient({ publicInstance: true })
    void pub.c.protect(new Blob(['x']), 'a', 2).catch(() => {})
    expect(pub.made[0]!.withCredentials).toBe(false)
  })

  it('says the server is unreachable on a network error', async () => {
    const { c, made } = xhrClient()
    const done = c.protect(new Blob(['x']), 'a', 2)
    made[0]!.onerror?.()
    await expect(done).rejects.toThrow(/Cannot reach the Qasmat server/)
  })
})
