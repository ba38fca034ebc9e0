// Browser test of the dashboard through its real UI, against a running proxy.
//
//   QASMAT_URL=http://127.0.0.1:3000 npm run e2e
//
// Environment:
//   QASMAT_URL           the proxy serving the dashboard (required)
//   QASMAT_PRIVATE_URL   a private instance (restricted CORS origins, identity
//                        headers trusted from this host) for the two-user case;
//                        defaults to QASMAT_URL
//   QASMAT_PRIVATE_TRANSIT  the private instance's QKD transit mode (AES, OTP),
//                        checked in its settings; unset skips that check
//   QASMAT_START         optional shell command that starts the server(s); it
//                        is stopped at the end. Nothing is started without it.
//   QASMAT_SCREENSHOTS   folder for the screenshots (default: a new temp folder)
//   QASMAT_WAIT_SECONDS  how long to wait for 2 connected storage servers (60)
//   CHROMIUM             browser executable (default /usr/bin/chromium)
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { launch } from './browser.mjs'

const env = process.env
const baseUrl = env.QASMAT_URL?.replace(/\/+$/, '')
if (!baseUrl) {
  console.error('e2e: set QASMAT_URL to the dashboard URL of a running proxy (for example `qasmat dev`), or run `npm run e2e:mock`.')
  process.exit(2)
}
const privateUrl = (env.QASMAT_PRIVATE_URL ?? baseUrl).replace(/\/+$/, '')
const shotsDir = env.QASMAT_SCREENSHOTS ?? (await mkdtemp(join(tmpdir(), 'qasmat-e2e-shots-')))
await mkdir(shotsDir, { recursive: true })
console.log(`# screenshots: ${shotsDir}`)

const alice = { 'X-Remote-User': 'alice', 'X-Remote-Email': 'alice@example.test' }
const bob = { 'X-Remote-User': 'bob', 'X-Remote-Email': 'bob@example.test' }

let started = null
let browser = null
let page = null
/** The page a failing step leaves a screenshot of. */
let current = null
let shot = 0
let servers = 0

/** Saves a numbered full-page screenshot of p. */
async function screenshot(p, name) {
  shot++
  const file = join(shotsDir, `${String(shot).padStart(2, '0')}-${name}.png`)
  await p.screenshot({ path: file, fullPage: true })
}

/** A test whose failure leaves a screenshot of the page as it was. */
function step(name, fn) {
  test(name, async () => {
    current = page
    try {
      await fn()
    } catch (err) {
      const p = current ?? page
      if (p) await screenshot(p, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`).catch(() => {})
      throw err
    }
  })
}

/** Waits until the instance reports at least `want` connected storage servers. */
async function waitForCluster(url, headers, want) {
  const deadline = Date.now() + 1000 * Number(env.QASMAT_WAIT_SECONDS ?? 60)
  let last = ''
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/api/storage`, { headers })
      const body = await res.json()
      const n = (body.data?.connected ?? body.data?.servers?.map(() => true) ?? []).filter(Boolean).length
      if (res.ok && n >= want) return n
      last = res.ok ? `${n} connected` : `HTTP ${res.status}: ${body.message}`
    } catch (err) {
      last = String(err)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`${url}: fewer than ${want} storage servers connected (${last})`)
}

function fileName(prefix, ext) {
  return `${prefix}-${randomBytes(4).toString('hex')}.${ext}`
}

function row(p, name) {
  return p.locator(`[data-testid=file-row][data-name="${name}"]`)
}

/** Protects files through the file input with threshold k and waits for the upload to finish. */
async function protectThroughUi(p, files, k) {
  const slider = p.getByTestId('threshold')
  await slider.waitFor()
  if (await slider.isEnabled()) await slider.fill(String(k))
  assert.equal(await slider.inputValue(), String(k))
  await p.getByTestId('file-input').setInputFiles(files)
  for (const f of files) {
    const item = p.locator(`[data-testid=transfer-upload][data-name="${f.name}"]`)
    await item.and(p.locator('[data-state=done], [data-state=failed]')).waitFor({ timeout: 60_000 })
    const state = await item.getAttribute('data-state')
    if (state !== 'done') assert.fail(`upload of ${f.name} ${state}: ${await item.innerText()}`)
  }
}

before(async () => {
  if (env.QASMAT_START) {
    started = spawn('sh', ['-c', env.QASMAT_START], { stdio: 'inherit', detached: true })
  }
  servers = await waitForCluster(baseUrl, {}, 2)
  if (privateUrl !== baseUrl) await waitForCluster(privateUrl, alice, 2)
  browser = await launch()
  page = browser.context.pages()[0] ?? (await browser.context.newPage())
  page.on('pageerror', (err) => console.log(`# page error: ${err.message}`))
})

after(async () => {
  await browser?.close()
  if (started?.pid) {
    try {
      process.kill(-started.pid, 'SIGTERM')
    } catch {
      // Already gone.
    }
  }
})

const payload = { name: fileName('e2e', 'bin'), mimeType: 'application/octet-stream', buffer: randomBytes(300_000 + 123) }

step('the dashboard shows the storage servers', async () => {
  await page.goto(baseUrl + '/')
  await page.getByTestId('storage-server').first().waitFor()
  const listed = await page.getByTestId('storage-server').count()
  assert.ok(listed >= servers, `expected at least ${servers} storage servers, saw ${listed}`)
  assert.match(await page.getByTestId('storage-summary').innerText(), /^\d+ of \d+ connected$/)
  await screenshot(page, 'storage-servers')
})

step('protects a file with threshold 2', async () => {
  await page.getByTestId('threshold').waitFor()
  await protectThroughUi(page, [payload], 2)
  assert.match(await page.getByTestId('threshold-sentence').innerText(), new RegExp(`^Any 2 of ${servers} servers rebuild it;`))
  await screenshot(page, 'protected')
})

step('lists the file with its threshold and date', async () => {
  const r = row(page, payload.name)
  await r.waitFor()
  assert.equal(await r.getByTestId('file-k').innerText(), `2 of ${servers}`)
  const shown = await r.getByTestId('file-date').innerText()
  // The browser's locale, which may differ from Node's.
  const today = await page.evaluate(() => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' }).format(new Date()))
  assert.equal(shown, today)
  assert.match(await r.getByTestId('hash').innerText(), /^[0-9a-f]{8}…[0-9a-f]{4}$/)
  await screenshot(page, 'listed')
})

step('retrieves the file: same bytes, integrity passed', async () => {
  const [download] = await Promise.all([page.waitForEvent('download'), row(page, payload.name).getByTestId('retrieve').click()])
  assert.equal(download.suggestedFilename(), payload.name)
  const got = await readFile(await download.path())
  assert.ok(got.equals(payload.buffer), `retrieved ${got.length} bytes differ from the ${payload.buffer.length} protected`)
  const item = page.locator(`[data-testid=transfer-download][data-name="${payload.name}"]`)
  await item.and(page.locator('[data-state=done]')).waitFor()
  assert.equal(await item.getByTestId('integrity').innerText(), 'Integrity check passed')
  await screenshot(page, 'retrieved')
})

step('shows a readable error for a threshold above the number of servers', async () => {
  const name = fileName('too-high', 'txt')
  // The slider cannot go past the server count, so this goes through the
  // app's own queue and API client, as a stale page would.
  await page.evaluate(
    ([n, k]) => window.__qasmat.protect([new File(['too few servers for this'], n)], k),
    [name, servers + 5],
  )
  const item = page.locator(`[data-testid=transfer-upload][data-name="${name}"]`)
  await item.and(page.locator('[data-state=failed]')).waitFor()
  const message = await item.getByTestId('transfer-error').innerText()
  assert.match(message, /threshold/i, `error shown: ${message}`)
  assert.doesNotMatch(message, /\[object|undefined|<html|^The server answered/i)
  assert.equal(await row(page, name).count(), 0)
  await screenshot(page, 'threshold-error')
})

step('removes the file after a confirmation that names it', async () => {
  await row(page, payload.name).getByTestId('remove').click()
  const dialog = page.getByTestId('confirm')
  assert.equal(await dialog.locator('h2').innerText(), `Remove “${payload.name}”?`)
  await screenshot(page, 'confirm-remove')
  await dialog.getByTestId('confirm-remove').click()
  await row(page, payload.name).waitFor({ state: 'detached' })
  await page.reload()
  await page.getByTestId('files-count').waitFor()
  await page.getByTestId('storage-server').first().waitFor()
  assert.equal(await row(page, payload.name).count(), 0)
  await screenshot(page, 'removed')
})

step('phone width: the files panel and protect button fit', async () => {
  await page.setViewportSize({ width: 375, height: 812 })
  await page.reload()
  await page.getByTestId('storage-server').first().waitFor()
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 375px`)
  assert.ok(await page.getByTestId('protect-button').isVisible())
  await screenshot(page, 'phone')
  await page.setViewportSize({ width: 1280, height: 860 })
})

step('private instance: a second user does not see the first user’s files', async () => {
  const a = await launch({ extraHTTPHeaders: alice })
  const b = await launch({ extraHTTPHeaders: bob })
  try {
    const pa = a.context.pages()[0] ?? (await a.context.newPage())
    const pb = b.context.pages()[0] ?? (await b.context.newPage())
    const secret = { name: fileName('alice-only', 'txt'), mimeType: 'text/plain', buffer: Buffer.from('for alice only\n') }

    current = pa
    await pa.goto(privateUrl + '/')
    await pa.getByTestId('storage-server').first().waitFor()
    await protectThroughUi(pa, [secret], 2)
    await row(pa, secret.name).waitFor()
    await screenshot(pa, 'private-alice')
    if (env.QASMAT_PRIVATE_TRANSIT) {
      // The private cluster seals shares with QKD keys: the settings say so.
      await pa.getByTestId('tab-settings').click()
      const transit = pa.getByTestId('about-transit')
      await transit.filter({ hasText: 'QKD' }).waitFor({ timeout: 10_000 })
      assert.match(await transit.innerText(), new RegExp(`QKD keys \\(${env.QASMAT_PRIVATE_TRANSIT}`))
      await screenshot(pa, 'private-settings-qkd')
      await pa.getByTestId('tab-files').click()
    }

    current = pb
    await pb.goto(privateUrl + '/')
    await pb.getByTestId('files-count').waitFor()
    // Wait for the list to have loaded (empty or not) so the check is not vacuous.
    await pb.locator('[data-testid=files-empty], [data-testid=files-table], [data-testid=files-error]').first().waitFor()
    assert.equal(await pb.getByTestId('files-error').count(), 0, 'bob could not list his files')
    assert.equal(await row(pb, secret.name).count(), 0, 'bob sees alice’s file')
    await screenshot(pb, 'private-bob')

    current = pa
    await row(pa, secret.name).getByTestId('remove').click()
    await pa.getByTestId('confirm-remove').click()
    await row(pa, secret.name).waitFor({ state: 'detached' })
  } finally {
    await a.close()
    await b.close()
  }
})
