import { describe, expect, it, vi } from 'vitest'
import { ApiError, CancelledError, type ApiClient, type TransferOptions } from './api'
import { createTransfers } from './transfers'

interface Call {
  name: string
  k: number
  opts: TransferOptions
  resolve: () => void
  reject: (e: unknown) => void
}

/** An API whose uploads finish only when the test says so. */
function fakeApi() {
  const calls: Call[] = []
  const api = {
    protect: (_file: Blob, name: string, k: number, opts: TransferOptions) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ name, k, opts, resolve, reject })
        opts.signal?.addEventListener('abort', () => reject(new CancelledError()))
      }),
    retrieve: vi.fn(async () => ({ blob: new Blob(['abc']), integrity: false })),
  }
  return { api: api as unknown as ApiClient, calls }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('transfers', () => {
  it('uploads queued files one at a time, in order', async () => {
    const { api, calls } = fakeApi()
    const uploaded: string[] = []
    const t = createTransfers({ api: () => api, save: vi.fn(), onUploaded: (n) => uploaded.push(n) })
    t.enqueueUploads([new File(['1'], 'a'), new File(['22'], 'b')], 2)
    await tick()
    expect(calls.map((c) => c.name)).toEqual(['a'])
    expect(t.items.map((i) => [i.name, i.state])).toEqual([
      ['b', 'queued'],
      ['a', 'running'],
    ])
    calls[0]!.resolve()
    await tick()
    expect(calls.map((c) => [c.name, c.k])).toEqual([
      ['a', 2],
      ['b', 2],
    ])
    calls[1]!.resolve()
    await tick()
    expect(uploaded).toEqual(['a', 'b'])
    expect(t.items.every((i) => i.state === 'done')).toBe(true)
  })

  it('cancels a queued upload before it starts and a running one through its signal', async () => {
    const { api, calls } = fakeApi()
    const t = createTransfers({ api: () => api, save: vi.fn() })
    const [a, b] = t.enqueueUploads([new File(['1'], 'a'), new File(['2'], 'b')], 2)
    await tick()
    t.cancel(b!.id)
    t.cancel(a!.id)
    await tick()
    expect(calls.map((c) => c.name)).toEqual(['a'])
    expect(calls[0]!.opts.signal?.aborted).toBe(true)
    expect(t.items.map((i) => i.state)).toEqual(['cancelled', 'cancelled'])
  })

  it('keeps the API message on a failed upload and goes on with the queue', async () => {
    const { api, calls } = fakeApi()
    const t = createTransfers({ api: () => api, save: vi.fn() })
    t.enqueueUploads([new File(['1'], 'a'), new File(['2'], 'b')], 9)
    await tick()
    calls[0]!.reject(new ApiError('The threshold (9) is greater than the number of servers (3).', 400))
    await tick()
    const a = t.items.find((i) => i.name === 'a')!
    expect(a.state).toBe('failed')
    expect(a.error).toBe('The threshold (9) is greater than the number of servers (3).')
    expect(calls.map((c) => c.name)).toEqual(['a', 'b'])
  })

  it('refuses a file above the instance limit without sending it', async () => {
    const { api, calls } = fakeApi()
    const t = createTransfers({ api: () => api, save: vi.fn(), maxFileSize: () => 3 })
    const [big] = t.enqueueUploads([new File(['12345'], 'big.bin')], 2)
    await tick()
    expect(calls).toHaveLength(0)
    expect(big!.state).toBe('failed')
    expect(big!.error).toBe('big.bin is 5 B; this instance accepts files up to 3 B.')
  })

  it('computes speed from progress over time', async () => {
    const { api, calls } = fakeApi()
    let now = 0
    const t = createTransfers({ api: () => api, save: vi.fn(), now: () => now })
    t.enqueueUploads([new File(['x'.repeat(4000)], 'a')], 2)
    await tick()
    now = 500
    calls[0]!.opts.onProgress?.({ loaded: 1000, total: 4000 })
    expect(t.items[0]!.loaded).toBe(1000)
    expect(t.items[0]!.speed).toBe(2000)
  })

  it('saves a download and records its integrity verdict', async () => {
    const { api } = fakeApi()
    const save = vi.fn()
    const t = createTransfers({ api: () => api, save })
    const d = await t.download('f.txt', 3)
    expect(d.state).toBe('done')
    expect(d.integrity).toBe(false)
    expect(save).toHaveBeenCalledWith(expect.any(Blob), 'f.txt')
  })
})
