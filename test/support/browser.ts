/**
 * A real browser for the e2e tests: Debian's chromium through playwright-core, the admin UI build
 * kept fresh, screenshots under test-results/screenshots/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterEach } from 'vitest';
import { ADMIN_UI_DIST } from '../../src/http/admin-ui.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..');
export const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');

/** Fails early and clearly when the browser is not installed. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium (or run .ci/run)`);
}

/** Headless chromium with the flags a container needs (no sandbox, no small /dev/shm). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/**
 * A page in a new context at `baseURL`; with `cookie` (an AdminClient's `name=value` session
 * cookie) the page opens signed in.
 */
export async function openPage(browser: Browser, options: { baseURL: string; viewport?: { width: number; height: number }; cookie?: string }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: options.baseURL, viewport: options.viewport ?? { width: 1366, height: 900 } });
  if (options.cookie) {
    const [name, ...value] = options.cookie.split('=');
    await context.addCookies([{ name: name!, value: value.join('='), url: options.baseURL }]);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return { context, page };
}

export type Shot = (page: Page, name: string) => Promise<Buffer>;

/** Full-page screenshots named `<prefix><name>.png` in SCREENSHOTS. */
export function screenshots(prefix = ''): Shot {
  return (page, name) => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    return page.screenshot({ path: join(SCREENSHOTS, `${prefix}${name}.png`), fullPage: true });
  };
}

/** A failing test leaves a picture of where the browser was. */
export function screenshotFailures(page: () => Page | undefined, shot: Shot): void {
  afterEach(async (context) => {
    const current = page();
    if (context.task.result?.state === 'fail' && current && !current.isClosed()) await shot(current, `failed-${context.task.name.replace(/\W+/g, '-')}`).catch(() => {});
  });
}

/** The main navigation's link to a screen. */
export const nav = (page: Page, label: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true });

/** Opens a Mantine Select/MultiSelect and picks an option by its visible text. */
export async function pickOption(page: Page, input: Locator, text: string): Promise<void> {
  await input.click();
  await page.getByRole('option', { name: new RegExp(`^${text}`) }).click();
}

/** Rebuilds web/dist when it is missing or older than a web source file (npm install builds it once). */
export function ensureFreshBuild(): void {
  const web = join(ROOT, 'web');
  const index = join(ADMIN_UI_DIST, 'index.html');
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? newest(join(dir, entry.name)) : statSync(join(dir, entry.name)).mtimeMs)));
  const sources = Math.max(newest(join(web, 'src')), statSync(join(web, 'index.html')).mtimeMs, statSync(join(web, 'vite.config.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(web, 'build.ts')], { stdio: 'inherit' });
  if (!existsSync(index)) throw new Error('web/dist is missing after the build: run npm install');
}
