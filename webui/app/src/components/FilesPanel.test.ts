import { mount } from '@vue/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import type { StoredFile } from '../api'
import FilesPanel from './FilesPanel.vue'

function file(filename: string, size: number, day: number, extra: Partial<StoredFile> = {}): StoredFile {
  return {
    filename,
    size,
    k: 2,
    n: 3,
    storageServers: ['s1', 's2', 's3'],
    protectedAt: new Date(Date.UTC(2026, 0, day)),
    lastRenewal: new Date(Date.UTC(2026, 0, day)),
    expired: false,
    hash: 'ab'.repeat(32),
    ...extra,
  }
}

const files = [file('report.pdf', 2_000, 3), file('Photo 10.jpg', 50_000, 1), file('photo 9.jpg', 9_000, 2, { expired: true, k: 3 })]

function mountPanel() {
  return mount(FilesPanel, { props: { files, loading: false, error: '', busy: [] }, attachTo: document.body })
}

const names = (w: ReturnType<typeof mountPanel>) => w.findAll('[data-testid=file-name]').map((n) => n.text())

afterEach(() => {
  document.body.innerHTML = ''
})

describe('FilesPanel', () => {
  it('offers to renew expired files only, and says so while it runs', async () => {
    const w = mountPanel()
    const buttons = w.findAll('[data-testid=renew]')
    expect(buttons).toHaveLength(1)
    await w.get('[data-name="photo 9.jpg"] [data-testid=renew]').trigger('click')
    expect(w.emitted('renew')).toEqual([['photo 9.jpg']])
    await w.setProps({ renewing: ['photo 9.jpg'] })
    const busy = w.get('[data-name="photo 9.jpg"] [data-testid=renew]')
    expect(busy.attributes('disabled')).toBeDefined()
    expect(busy.text()).toBe('Renewing…')
  })

  it('lists newest first with k of n, and marks expired files', () => {
    const w = mountPanel()
    expect(names(w)).toEqual(['report.pdf', 'photo 9.jpg', 'Photo 10.jpg'])
    expect(w.findAll('[data-testid=file-k]').map((n) => n.text())).toEqual(['2 of 3', '3 of 3', '2 of 3'])
    const expired = w.findAll('[data-testid=file-row]').filter((r) => r.find('[data-testid=file-expired]').exists())
    expect(expired.map((r) => r.attributes('data-name'))).toEqual(['photo 9.jpg'])
    expect(expired[0]!.classes()).toContain('expired')
  })

  it('filters by name, ignoring case', async () => {
    const w = mountPanel()
    await w.get('[data-testid=filter]').setValue('PHOTO')
    expect(names(w)).toEqual(['photo 9.jpg', 'Photo 10.jpg'])
    await w.get('[data-testid=filter]').setValue('nothing-like-this')
    expect(names(w)).toEqual([])
    expect(w.text()).toContain('No file name contains “nothing-like-this”.')
  })

  it('sorts by name in natural order, then reverses on a second click', async () => {
    const w = mountPanel()
    await w.get('[data-testid=sort-filename]').trigger('click')
    expect(names(w)).toEqual(['photo 9.jpg', 'Photo 10.jpg', 'report.pdf'])
    await w.get('[data-testid=sort-filename]').trigger('click')
    expect(names(w)).toEqual(['report.pdf', 'Photo 10.jpg', 'photo 9.jpg'])
  })

  it('sorts by size, largest first', async () => {
    const w = mountPanel()
    await w.get('[data-testid=sort-size]').trigger('click')
    expect(names(w)).toEqual(['Photo 10.jpg', 'photo 9.jpg', 'report.pdf'])
  })

  it('asks before removing, naming the file, and only then emits', async () => {
    const w = mountPanel()
    await w.get('[data-name="report.pdf"] [data-testid=remove]').trigger('click')
    const dialog = w.get('[data-testid=confirm]')
    expect(dialog.get('h2').text()).toBe('Remove “report.pdf”?')
    expect(w.emitted('remove')).toBeUndefined()
    await dialog.get('[data-testid=confirm-remove]').trigger('click')
    expect(w.emitted('remove')).toEqual([[['report.pdf']]])
    expect(w.find('[data-testid=confirm]').exists()).toBe(false)
  })

  it('keeps the file when the user cancels', async () => {
    const w = mountPanel()
    await w.get('[data-name="report.pdf"] [data-testid=remove]').trigger('click')
    await w.get('[data-testid=confirm] button').trigger('click')
    expect(w.find('[data-testid=confirm]').exists()).toBe(false)
    expect(w.emitted('remove')).toBeUndefined()
  })

  it('selects several files and names each in the confirmation', async () => {
    const w = mountPanel()
    await w.get('[data-name="report.pdf"] input[type=checkbox]').setValue(true)
    await w.get('[data-name="photo 9.jpg"] input[type=checkbox]').setValue(true)
    expect(w.get('[data-testid=selection-bar]').text()).toContain('2 selected')
    await w.get('[data-testid=retrieve-selected]').trigger('click')
    expect((w.emitted('retrieve')![0]![0] as StoredFile[]).map((f) => f.filename).sort()).toEqual(['photo 9.jpg', 'report.pdf'])
    await w.get('[data-testid=remove-selected]').trigger('click')
    const dialog = w.get('[data-testid=confirm]')
    expect(dialog.get('h2').text()).toBe('Remove 2 files?')
    expect(dialog.findAll('li').map((l) => l.text())).toEqual(['report.pdf', 'photo 9.jpg'])
  })

  it('shows the hash shortened, with the full value at hand', () => {
    const w = mountPanel()
    const hash = w.get('[data-name="report.pdf"] [data-testid=hash]')
    expect(hash.text()).toBe('abababab…abab')
    expect(hash.attributes('title')).toBe('ab'.repeat(32))
  })

  it('shows a load error with a way to retry', async () => {
    const w = mount(FilesPanel, { props: { files: [], loading: false, error: 'The server answered 500.', busy: [] } })
    expect(w.get('[data-testid=files-error]').text()).toContain('Could not load your files: The server answered 500.')
    await w.get('[data-testid=files-error] button').trigger('click')
    expect(w.emitted('refresh')).toHaveLength(1)
  })
})
