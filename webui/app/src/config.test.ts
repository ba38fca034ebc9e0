import { describe, expect, it } from 'vitest'
import { effectiveConfig, fallbackConfig, loadServerConfig, parseConfig, readOverrides, storageKey, writeOverrides } from './config'

const spec = { authAddress: 'https://auth/', APIAddress: 'https://api/api', isPublicInstance: false, minThreshold: 3, canEditConfig: false }

function memoryStorage(): Storage {
  const m = new Map<string, string>()
  return {
    get length() {
      return m.size
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  }
}

describe('config', () => {
  it('takes the spec keys from config.json', () => {
    expect(parseConfig(spec)).toEqual({ server: spec, problem: null })
  })

  it('keeps good keys and names the bad ones', () => {
    const got = parseConfig({ ...spec, minThreshold: 0, isPublicInstance: 'no' })
    expect(got.server.minThreshold).toBe(2)
    expect(got.server.isPublicInstance).toBe(fallbackConfig.isPublicInstance)
    expect(got.server.APIAddress).toBe('https://api/api')
    expect(got.problem).toBe('config/config.json has invalid minThreshold, isPublicInstance; using the default for them.')
  })

  it('falls back to defaults when config.json is missing', async () => {
    const fetchFn = async () => new Response('no', { status: 404 })
    const got = await loadServerConfig(fetchFn as typeof fetch, 'http://dash.test/')
    expect(got.server).toEqual(fallbackConfig)
    expect(got.problem).toMatch(/HTTP 404/)
  })

  it('applies saved settings only when the operator allows editing', () => {
    const store = memoryStorage()
    writeOverrides({ authAddress: 'https://mine/', APIAddress: 'https://mine/api', isPublicInstance: true }, store)
    const mine = readOverrides(store)
    expect(effectiveConfig(spec, mine)).toBe(spec)
    expect(effectiveConfig({ ...spec, canEditConfig: true }, mine)).toMatchObject({ APIAddress: 'https://mine/api', isPublicInstance: true, minThreshold: 3 })
  })

  it('ignores a damaged saved value', () => {
    const store = memoryStorage()
    store.setItem(storageKey, '{not json')
    expect(readOverrides(store)).toEqual({})
  })
})
