// Small pure helpers that turn numbers, dates and hashes into words.

const units = ['B', 'KB', 'MB', 'GB', 'TB']

/** Decimal units, so the spec's 1 000 000 000-byte limit reads "1 GB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—'
  let i = 0
  let v = n
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2
  // Number() drops trailing zeros: "1 GB", not "1.00 GB".
  return `${Number(v.toFixed(digits))} ${units[i]}`
}

export function formatSpeed(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return ''
  return `${formatBytes(bytesPerSecond)}/s`
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

export function formatDate(d: Date | null): string {
  return d ? dateFormat.format(d) : '—'
}

const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })

/** The day alone, for table cells; formatDate gives the full moment. */
export function formatDay(d: Date | null): string {
  return d ? dayFormat.format(d) : '—'
}

/** First 8 and last 4 hex digits: enough to compare by eye. */
export function shortHash(hex: string): string {
  return hex.length <= 14 ? hex : `${hex.slice(0, 8)}…${hex.slice(-4)}`
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/**
 * Default threshold: a majority of the connected servers, ceil((n+1)/2),
 * kept within [min, n]. It survives the loss of a minority of servers
 * while a minority alone learns nothing.
 */
export function defaultThreshold(min: number, n: number): number {
  if (n < min) return min
  return Math.min(n, Math.max(min, Math.ceil((n + 1) / 2)))
}

/** "Any k of n servers rebuild it; k-1 learn nothing", in plain words. */
export function thresholdSentence(k: number, n: number): string {
  const fewer = k - 1
  const rest = fewer === 1 ? '1 server alone learns nothing' : `any ${fewer} together learn nothing`
  return `Any ${k} of ${n} servers rebuild it; ${rest}.`
}

export type FileKind = 'images' | 'documents' | 'archives' | 'other'

const kinds: Record<Exclude<FileKind, 'other'>, string[]> = {
  images: ['png', 'jpg', 'jpeg', 'gif', 'webp', 'svg', 'bmp', 'tif', 'tiff', 'heic', 'avif'],
  documents: ['pdf', 'txt', 'md', 'doc', 'docx', 'odt', 'rtf', 'xls', 'xlsx', 'ods', 'csv', 'ppt', 'pptx', 'odp', 'json', 'xml', 'html'],
  archives: ['zip', 'tar', 'gz', 'tgz', 'bz2', 'xz', 'zst', '7z', 'rar'],
}

export function fileKind(filename: string): FileKind {
  const dot = filename.lastIndexOf('.')
  if (dot < 0) return 'other'
  const ext = filename.slice(dot + 1).toLowerCase()
  for (const [kind, exts] of Object.entries(kinds)) {
    if (exts.includes(ext)) return kind as FileKind
  }
  return 'other'
}
