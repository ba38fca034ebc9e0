// Messages for the user: errors stay until dismissed, good news fades.
import { reactive } from 'vue'

export type NoticeKind = 'error' | 'info' | 'success'

export interface Notice {
  id: number
  kind: NoticeKind
  text: string
}

export function createNotices(fadeMs = 4000) {
  const items = reactive<Notice[]>([])
  let nextId = 1

  function dismiss(id: number) {
    const i = items.findIndex((n) => n.id === id)
    if (i >= 0) items.splice(i, 1)
  }

  function push(kind: NoticeKind, text: string): number {
    // The same message twice in a row (a retry, a refresh) is shown once.
    const same = items.find((n) => n.kind === kind && n.text === text)
    if (same) return same.id
    const id = nextId++
    items.push({ id, kind, text })
    if (kind !== 'error') setTimeout(() => dismiss(id), fadeMs)
    return id
  }

  return { items, push, dismiss }
}

export type Notices = ReturnType<typeof createNotices>
