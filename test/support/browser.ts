import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'

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
/** The narrowest phone still about: 320 px wide (an iPhone SE of the first generation). */
export const smallPhone = { width: 320, height: 568 }
export const desktop = { width: 1280, height: 800 }

/**
 * Saves a whole page as `test-output/screenshots/<name>.png`, to be looked at, and checks that the page does not scroll
 * sideways in its window: something wider than a phone (a table, a long id) fails here rather than in a fan's hand.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true })
  const viewport = page.viewportSize()?.width
  const width = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number)
  if (viewport !== undefined)
    assert.ok(width <= viewport, `${name}: the page is ${width} px wide in a ${viewport} px window`)
}
