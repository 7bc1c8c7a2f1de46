import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it): no browser download. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export const chromiumPath: string | undefined = CANDIDATES.find((p) => existsSync(p));

/** Why browser tests skip, or undefined when they can run. */
export const noChromium: string | undefined = chromiumPath
  ? undefined
  : `no chromium at ${CANDIDATES.join(' or ')}: install Debian's package (apt-get install -y chromium) to run the browser tests`;

/** A headless chromium closed when the test ends. */
export async function launchChromium(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: chromiumPath!,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  t.after(() => browser.close());
  return browser;
}
