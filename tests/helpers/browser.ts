import { type Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium, headless, without the background traffic a closed network would refuse
 * (`.ci/run` installs it; never a browser downloaded by playwright).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}
