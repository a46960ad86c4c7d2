import { existsSync, mkdirSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Why browser tests cannot run here, or false. On CI a missing Chromium is an error, not a skip. */
export const noChromium: string | false = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`
if (noChromium && process.env.CI)
  throw new Error(`Chromium not found at ${CHROMIUM}: .ci/run installs Debian's chromium`)

/** Debian's Chromium, headless, without the background traffic that would muddle request counting. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  })
}

export const SCREENSHOTS = 'test-output/screenshots'
mkdirSync(SCREENSHOTS, { recursive: true })

export const phone = { width: 390, height: 844 }
export const desktop = { width: 1280, height: 800 }
