// Hands bytes to the browser as a download.

export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  a.rel = 'noopener'
  a.style.display = 'none'
  document.body.appendChild(a)
  a.click()
  a.remove()
  // The browser reads the blob asynchronously after click(); revoking at
  // once can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
