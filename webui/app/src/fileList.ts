// Filtering and sorting of the files panel, kept pure so it is easy to test.
import type { StoredFile } from './api'

export type SortKey = 'filename' | 'size' | 'protectedAt' | 'k' | 'lastRenewal'
export type SortDir = 'asc' | 'desc'

export function filterFiles(files: StoredFile[], query: string): StoredFile[] {
  const q = query.trim().toLocaleLowerCase()
  if (!q) return files
  return files.filter((f) => f.filename.toLocaleLowerCase().includes(q))
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' })

function compare(a: StoredFile, b: StoredFile, key: SortKey): number {
  switch (key) {
    case 'filename':
      return collator.compare(a.filename, b.filename)
    case 'size':
      return a.size - b.size
    case 'k':
      return a.k - b.k || a.n - b.n
    case 'protectedAt':
    case 'lastRenewal':
      return (a[key]?.getTime() ?? 0) - (b[key]?.getTime() ?? 0)
  }
}

/** Stable sort; ties fall back to the name so the order never jumps. */
export function sortFiles(files: StoredFile[], key: SortKey, dir: SortDir): StoredFile[] {
  const sign = dir === 'asc' ? 1 : -1
  return [...files].sort((a, b) => sign * compare(a, b, key) || collator.compare(a.filename, b.filename))
}
