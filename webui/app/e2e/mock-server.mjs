// An in-memory stand-in for the Qasmat proxy: the spec's REST API, the
// dashboard's built files from webui/dist and /config/config.json. It lets the
// browser tests and a designer run the dashboard without a cluster; the real
// check is the same browser test against `qasmat dev`.
//
//   node e2e/mock-server.mjs            # http://127.0.0.1:3100, public
//   MOCK_PUBLIC=0 MOCK_SEED=1 PORT=3100 node e2e/mock-server.mjs
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const distDir = fileURLToPath(new URL('../../dist/', import.meta.url))

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/**
 * @param {object} [opts]
 * @param {number} [opts.port] 0 picks a free port
 * @param {boolean} [opts.publicInstance] false: users must come with X-Remote-Email / X-Remote-User
 * @param {string[]} [opts.allowedOrigins] CORS origins; ['*'] in public mode
 * @param {{name: string, location?: string, host?: string, ping?: number, connected?: boolean}[]} [opts.servers]
 * @param {number} [opts.maxFileSize]
 * @param {number} [opts.capacity] bytes the cluster holds, for `percentage`
 * @param {number} [opts.rate] bytes per second for retrieve bodies; 0 = as fast as possible
 * @param {boolean} [opts.seed] start with a few files for the anonymous user
 * @param {boolean} [opts.canEditConfig]
 */
export async function startMockServer(opts = {}) {
  const publicInstance = opts.publicInstance ?? true
  const allowedOrigins = opts.allowedOrigins ?? (publicInstance ? ['*'] : [])
  const maxFileSize = opts.maxFileSize ?? 1_000_000_000
  const capacity = opts.capacity ?? 2_000_000_000
  const rate = opts.rate ?? 0
  const servers = opts.servers ?? [
    { name: 'storage-1', location: 'Paris', host: '127.0.0.1:49101', ping: 3, connected: true },
    { name: 'storage-2', location: 'Lyon', host: '127.0.0.1:49102', ping: 7, connected: true },
    { name: 'storage-3', location: 'Nice', host: '127.0.0.1:49103', ping: 12, connected: true },
  ]
  /** @type {Map<string, Map<string, {bytes: Buffer, k: number, n: number, servers: string[], date: string, renewed: string, expired: boolean}>>} */
  const users = new Map()

  const filesOf = (user) => {
    if (!users.has(user)) users.set(user, new Map())
    return users.get(user)
  }

  if (opts.seed) {
    const day = 86_400_000
    const now = Date.now()
    const seed = [
      ['quarterly-report.pdf', 2_400_000, 2, 0, false],
      ['team-photo.jpg', 5_800_000, 3, 3, false],
      ['contracts-2024.zip', 18_000_000, 2, 12, false],
      ['old-notes.txt', 42_000, 2, 45, true],
    ]
    for (const [name, size, k, age, expired] of seed) {
      const bytes = Buffer.alloc(size, name)
      filesOf('anonymous').set(name, {
        bytes,
        k,
        n: 3,
        servers: servers.map((s) => s.name),
        date: new Date(now - age * day - 3_600_000).toISOString(),
        renewed: new Date(now - Math.min(age, 14) * day).toISOString(),
        expired,
      })
    }
  }

  const connected = () => servers.filter((s) => s.connected !== false)

  function cors(req, res) {
    const origin = req.headers.origin
    // Browsers send Origin on same-origin POSTs too; those are not CORS.
    if (!origin || origin === `http://${req.headers.host}`) return true
    if (allowedOrigins.includes('*')) {
      res.setHeader('Access-Control-Allow-Origin', '*')
    } else if (allowedOrigins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin)
      res.setHeader('Access-Control-Allow-Credentials', 'true')
      res.setHeader('Vary', 'Origin')
    } else {
      return false
    }
    res.setHeader('Access-Control-Expose-Headers', 'X-File-Integrity')
    return true
  }

  function send(res, code, body) {
    const text = JSON.stringify(body)
    res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }
  const ok = (res, data) => send(res, 200, { code: 200, status: 'success', data })
  const fail = (res, code, message) => send(res, code, { code, status: 'error', message })

  function userOf(req) {
    const h = req.headers
    return h['x-remote-email'] || h['remote-email'] || h['x-remote-user'] || h['remote-user'] || (publicInstance ? 'anonymous' : '')
  }

  async function body(req) {
    const chunks = []
    for await (const c of req) chunks.push(c)
    return Buffer.concat(chunks)
  }

  async function formOf(req) {
    const raw = await body(req)
    const type = req.headers['content-type'] ?? ''
    if (type.startsWith('application/json')) {
      const v = JSON.parse(raw.toString('utf8') || '{}')
      return new Map(Object.entries(v).map(([k, x]) => [k, String(x)]))
    }
    // Undici's Request parses multipart and urlencoded bodies for us.
    const fd = await new Request('http://mock/', { method: 'POST', headers: { 'content-type': type }, body: raw }).formData()
    return fd
  }

  function listing(user) {
    const files = [...filesOf(user)].map(([filename, f]) => ({
      filename,
      size: f.bytes.length,
      k: f.k,
      n: f.n,
      storage_servers: f.servers,
      date_of_protection: f.date,
      last_renewal: f.renewed,
      expired: f.expired,
      hash: [...createHash('sha256').update(f.bytes).digest()],
    }))
    let used = 0
    for (const m of users.values()) for (const f of m.values()) used += f.bytes.length * f.n
    return { files, percentage: Math.min(100, (100 * used) / capacity) }
  }

  async function api(req, res, path) {
    const user = userOf(req)
    if (!user) return fail(res, 401, 'Sign in first: the request carries no X-Remote-Email header.')
    const route = `${req.method} ${path}`
    switch (route) {
      case 'GET /storage':
        return ok(res, {
          servers: servers.map((s) => s.name),
          locations: servers.map((s) => s.location ?? ''),
          hosts: servers.map((s) => s.host ?? ''),
          pings: servers.map((s) => s.ping ?? -1),
          connected: servers.map((s) => s.connected !== false),
        })
      case 'GET /file':
        return ok(res, listing(user))
      case 'GET /configuration':
        // limit: connected storage servers, the largest threshold (as the proxy does).
        return ok(res, { version: 'mock-1', limit: connected().length, max_file_size: maxFileSize })
      case 'POST /file/protect': {
        if (!(req.headers['content-type'] ?? '').startsWith('multipart/form-data')) {
          return fail(res, 400, 'Send the file as multipart/form-data with the fields threshold and file.')
        }
        const form = await formOf(req)
        const order = [...form.keys()]
        if (order.indexOf('threshold') < 0) return fail(res, 400, 'The threshold field is missing.')
        if (order.indexOf('file') >= 0 && order.indexOf('threshold') > order.indexOf('file')) {
          return fail(res, 400, 'The threshold field must come before the file field.')
        }
        const file = form.get('file')
        if (!file || typeof file === 'string') return fail(res, 400, 'The file field is missing.')
        const k = Number(form.get('threshold'))
        const n = connected().length
        if (!Number.isInteger(k)) return fail(res, 400, 'The threshold must be a whole number.')
        if (k < 2) return fail(res, 400, 'The threshold must be at least 2.')
        if (k > n) return fail(res, 400, `The threshold (${k}) is greater than the number of connected storage servers (${n}).`)
        if (file.size > maxFileSize) return fail(res, 413, `The file is larger than the ${maxFileSize}-byte limit.`)
        const name = file.name
        if (!name || /[/\\\0]/.test(name)) return fail(res, 400, 'The file name contains a character that is not allowed.')
        const mine = filesOf(user)
        if (mine.has(name)) return fail(res, 409, `You already have a file named ${name}.`)
        const now = new Date().toISOString()
        mine.set(name, {
          bytes: Buffer.from(await file.arrayBuffer()),
          k,
          n,
          servers: connected().map((s) => s.name),
          date: now,
          renewed: now,
          expired: false,
        })
        return ok(res, null)
      }
      case 'POST /file/retrieve': {
        const form = await formOf(req)
        const name = form.get('name')
        const f = typeof name === 'string' ? filesOf(user).get(name) : undefined
        if (!f) return fail(res, 404, `You have no file named ${name ?? '(none given)'}.`)
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': f.bytes.length,
          'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
          'X-File-Integrity': 'true',
        })
        if (!rate) return res.end(f.bytes)
        const step = 64 * 1024
        for (let i = 0; i < f.bytes.length; i += step) {
          if (res.destroyed) return
          res.write(f.bytes.subarray(i, i + step))
          await new Promise((r) => setTimeout(r, (1000 * step) / rate))
        }
        return res.end()
      }
      case 'POST /file/remove': {
        const form = await formOf(req)
        const name = form.get('name')
        if (typeof name !== 'string' || !filesOf(user).delete(name)) {
          return fail(res, 404, `You have no file named ${name ?? '(none given)'}.`)
        }
        return ok(res, null)
      }
      default:
        return fail(res, 404, `No such endpoint: ${req.method} /api${path}.`)
    }
  }

  async function staticFile(res, path) {
    const rel = normalize(decodeURIComponent(path)).replace(/^(\.\.[/\\])+/, '').replace(/^[/\\]+/, '')
    let file = join(distDir, rel || 'index.html')
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html')
      const data = await readFile(file)
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' })
      res.end(data)
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' })
      res.end('Not found. Run `npm run build` first so webui/dist holds the dashboard.')
    }
  }

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://mock')
      if (url.pathname.startsWith('/api/')) {
        if (!cors(req, res)) return fail(res, 403, 'This origin is not allowed.')
        if (req.method === 'OPTIONS') {
          res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
          res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? '*')
          res.writeHead(204)
          return res.end()
        }
        return await api(req, res, url.pathname.slice(4))
      }
      if (url.pathname === '/config/config.json') {
        return send(res, 200, {
          authAddress: publicInstance ? '' : 'https://auth.example.test/logout',
          APIAddress: '/api',
          isPublicInstance: publicInstance,
          minThreshold: 2,
          canEditConfig: opts.canEditConfig ?? true,
        })
      }
      return await staticFile(res, url.pathname)
    } catch (err) {
      if (!res.headersSent) fail(res, 500, `Mock server error: ${err instanceof Error ? err.message : err}`)
      else res.destroy()
    }
  })

  await new Promise((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve(undefined))
      }),
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const env = process.env
  const mock = await startMockServer({
    port: Number(env.PORT ?? 3100),
    publicInstance: env.MOCK_PUBLIC !== '0',
    allowedOrigins: env.MOCK_ALLOWED_ORIGINS ? env.MOCK_ALLOWED_ORIGINS.split(',') : undefined,
    rate: Number(env.MOCK_RATE ?? 0),
    seed: env.MOCK_SEED === '1',
    canEditConfig: env.MOCK_CAN_EDIT !== '0',
  })
  console.log(`mock Qasmat proxy at ${mock.url}`)
  const stop = async () => {
    await mock.close()
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
