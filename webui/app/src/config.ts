// The client configuration: config/config.json from whoever serves the
// dashboard, plus the user's own choices from the Settings tab when the
// operator allows editing (canEditConfig).

export interface ClientConfig {
  authAddress: string
  APIAddress: string
  isPublicInstance: boolean
  minThreshold: number
  canEditConfig: boolean
}

/** The keys a user may change in Settings when canEditConfig is true. */
export type EditableConfig = Pick<ClientConfig, 'authAddress' | 'APIAddress' | 'isPublicInstance'>

/**
 * Used when config/config.json is missing: the operator set no restriction,
 * so the user may point the dashboard at their proxy in Settings.
 */
export const fallbackConfig: ClientConfig = {
  authAddress: '',
  APIAddress: '/api',
  isPublicInstance: true,
  minThreshold: 2,
  canEditConfig: true,
}

export const storageKey = 'qasmat.settings'

export interface LoadedConfig {
  /** What the operator's config/config.json says (or the fallback). */
  server: ClientConfig
  /** Set when config.json could not be used; the dashboard says so. */
  problem: string | null
}

export async function loadServerConfig(fetchFn: typeof fetch = fetch, base?: string): Promise<LoadedConfig> {
  const pageBase = base ?? (typeof document !== 'undefined' ? document.baseURI : 'http://localhost/')
  const url = new URL('config/config.json', pageBase).href
  try {
    const res = await fetchFn(url, { cache: 'no-store', credentials: 'same-origin' })
    if (!res.ok) {
      return { server: fallbackConfig, problem: `config/config.json could not be loaded (HTTP ${res.status}); using defaults.` }
    }
    return parseConfig(await res.json())
  } catch {
    return { server: fallbackConfig, problem: 'config/config.json could not be loaded; using defaults.' }
  }
}

/** Validates config.json key by key so one bad value does not lose the rest. */
export function parseConfig(raw: unknown): LoadedConfig {
  if (typeof raw !== 'object' || raw === null) {
    return { server: fallbackConfig, problem: 'config/config.json is not a JSON object; using defaults.' }
  }
  const r = raw as Record<string, unknown>
  const bad: string[] = []
  const str = (key: keyof ClientConfig, def: string): string => {
    if (r[key] === undefined) return def
    if (typeof r[key] === 'string') return r[key]
    bad.push(key)
    return def
  }
  const bool = (key: keyof ClientConfig, def: boolean): boolean => {
    if (r[key] === undefined) return def
    if (typeof r[key] === 'boolean') return r[key]
    bad.push(key)
    return def
  }
  let minThreshold = fallbackConfig.minThreshold
  if (r.minThreshold !== undefined) {
    if (typeof r.minThreshold === 'number' && Number.isInteger(r.minThreshold) && r.minThreshold >= 1) {
      minThreshold = r.minThreshold
    } else {
      bad.push('minThreshold')
    }
  }
  const server: ClientConfig = {
    authAddress: str('authAddress', fallbackConfig.authAddress),
    APIAddress: str('APIAddress', fallbackConfig.APIAddress),
    isPublicInstance: bool('isPublicInstance', fallbackConfig.isPublicInstance),
    minThreshold,
    canEditConfig: bool('canEditConfig', false),
  }
  return {
    server,
    problem: bad.length ? `config/config.json has invalid ${bad.join(', ')}; using the default for ${bad.length > 1 ? 'them' : 'it'}.` : null,
  }
}

export function readOverrides(storage: Storage | undefined = globalThis.localStorage): Partial<EditableConfig> {
  try {
    const raw = storage?.getItem(storageKey)
    if (!raw) return {}
    const v = JSON.parse(raw) as Record<string, unknown>
    const out: Partial<EditableConfig> = {}
    if (typeof v.authAddress === 'string') out.authAddress = v.authAddress
    if (typeof v.APIAddress === 'string') out.APIAddress = v.APIAddress
    if (typeof v.isPublicInstance === 'boolean') out.isPublicInstance = v.isPublicInstance
    return out
  } catch {
    return {}
  }
}

export function writeOverrides(values: EditableConfig, storage: Storage | undefined = globalThis.localStorage): void {
  storage?.setItem(storageKey, JSON.stringify(values))
}

export function clearOverrides(storage: Storage | undefined = globalThis.localStorage): void {
  storage?.removeItem(storageKey)
}

/** The configuration in force: the user's choices only count when editing is allowed. */
export function effectiveConfig(server: ClientConfig, overrides: Partial<EditableConfig>): ClientConfig {
  if (!server.canEditConfig) return server
  return { ...server, ...overrides }
}
