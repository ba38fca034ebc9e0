// Runs the browser test against two in-memory mock proxies (one public, one
// private with restricted CORS origins): a check of the dashboard without a
// cluster. The real run is `npm run e2e` against `qasmat dev`.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startMockServer } from './mock-server.mjs'

const pub = await startMockServer({ publicInstance: true })
const priv = await startMockServer({ publicInstance: false, allowedOrigins: ['https://dashboard.example.test'] })

const child = spawn(process.execPath, [fileURLToPath(new URL('./dashboard.e2e.mjs', import.meta.url))], {
  stdio: 'inherit',
  env: { ...process.env, QASMAT_URL: pub.url, QASMAT_PRIVATE_URL: priv.url },
})
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await pub.close()
await priv.close()
process.exit(code)
