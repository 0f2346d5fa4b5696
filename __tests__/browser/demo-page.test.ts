// The example app's demo page driven in headless Chromium: the example app runs as a child process
// (demo upstream, the test Redis), and the page creates, polls, streams, cancels and deletes.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** The little of the DOM that the functions passed to the page read (tsc here has no DOM lib). */
declare const document: { getElementById(id: string): { textContent: string | null; dataset: Record<string, string | undefined> } | null };

const ROOT = path.resolve(__dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOT = path.join(ROOT, 'test-artifacts/demo-page.png');
const TERMINAL = ['completed', 'failed', 'incomplete', 'cancelled'];
/** Generous: CI runs on a slow shared machine. Each wait ends as soon as its condition holds. */
const WAIT_MS = 45000;

let app: ChildProcess | undefined;
let appLog = '';
let origin = '';
let browser: Browser | undefined;
let page: Page;

function startExampleApp(): Promise<string> {
  const env = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    WALKTHROUGH: '0',
    CONFIG_FILE: '',
    OPENAI_API_KEY: '',
    // About 10 s per answer: slow enough to watch the text grow and to cancel mid-way.
    DEMO_WORD_DELAY_MS: '120',
  };
  const child = spawn(process.execPath, [path.join(ROOT, 'example-app/server.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  app = child;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example app did not start within ${WAIT_MS} ms:\n${appLog}`)), WAIT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      appLog += chunk.toString();
      const match = /example app listening on (http:\/\/\S+)/.exec(appLog);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (appLog += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the example app exited with code ${code}:\n${appLog}`));
    });
  });
}

/** Resolves when the page shows `status`; fails with the status it shows instead. */
async function waitForStatus(status: string): Promise<void> {
  try {
    await page.waitForFunction((s) => document.getElementById('status')!.dataset.status === s, status, { timeout: WAIT_MS, polling: 50 });
  } catch (err) {
    const shown = await page.locator('#status').getAttribute('data-status');
    const error = await page.locator('#error').textContent();
    throw new Error(`the page shows status "${shown}" instead of "${status}" (error box: "${error}"): ${String(err)}`);
  }
}

/** Records every text length the page shows while the response runs, until it is terminal. */
async function watchTextGrow(): Promise<{ lengths: number[]; status: string }> {
  const lengths: number[] = [];
  for (;;) {
    const handle = await page.waitForFunction(
      ({ previous, terminal }) => {
        const length = document.getElementById('output')!.textContent!.length;
        const status = document.getElementById('status')!.dataset.status!;
        return (length > previous || terminal.includes(status)) && { length, status };
      },
      { previous: lengths.length ? lengths[lengths.length - 1] : 0, terminal: TERMINAL },
      { timeout: WAIT_MS, polling: 20 },
    );
    const { length, status } = (await handle.jsonValue()) as { length: number; status: string };
    if (TERMINAL.includes(status)) return { lengths, status };
    lengths.push(length);
  }
}

async function submit(prompt: string): Promise<string> {
  const before = await page.locator('#response-id').textContent();
  await page.fill('#prompt', prompt);
  await page.click('#run');
  await page.waitForFunction(
    (old) => {
      const shown = document.getElementById('response-id')!.textContent!;
      return /^resp_/.test(shown) && shown !== old;
    },
    before,
    { timeout: WAIT_MS },
  );
  return (await page.locator('#response-id').textContent())!;
}

interface StoredResponse {
  status?: string;
  output?: { content?: { text?: string }[] }[];
}

/** The response as the router serves it to a client other than the page. */
async function serverView(id: string): Promise<{ status: number; body: StoredResponse }> {
  const res = await fetch(`${origin}/llm/v1/responses/${id}`);
  return { status: res.status, body: (await res.json()) as StoredResponse };
}

const textOf = (body: StoredResponse) =>
  (body.output ?? []).flatMap((item) => item.content ?? []).map((part) => part.text ?? '').join('');

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium was not found at ${CHROMIUM}. The browser tests drive the demo page in headless Chromium: ` +
        'install it with `apt-get install -y chromium` (bash .ci/run does it), or set CHROMIUM_PATH.',
    );
  }
  if (!existsSync(path.join(ROOT, 'dist/cjs/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it).');
  origin = await startExampleApp();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1000, height: 1100 } });
  page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
}, 90000);

afterAll(async () => {
  try {
    if (page && !page.isClosed()) {
      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }
  } finally {
    await browser?.close();
    if (app && app.exitCode === null) {
      const exited = new Promise((resolve) => app!.once('exit', resolve));
      app.kill('SIGTERM');
      await exited;
    }
  }
}, 60000);

describe('the demo page', () => {
  let completedId = '';
  let cancelledId = '';

  test('shows a background response growing while it polls, until it is completed', async () => {
    completedId = await submit('Watch me grow');
    await waitForStatus('in_progress');
    // The page says what the user is watching: the lifecycle, the step it is at, how it is followed.
    expect(await page.locator('#watching').textContent()).toMatch(/queued → in_progress → completed, polled with GET \/responses\/\{id\} every 400 ms/);
    expect(await page.locator('#lifecycle li[aria-current="step"]').getAttribute('data-step')).toBe('in_progress');
    const { lengths, status } = await watchTextGrow();
    expect(status).toBe('completed');
    expect(await page.locator('#watching').textContent()).toContain('Finished as completed');
    expect(await page.locator('#lifecycle li[data-step="end"]').textContent()).toBe('completed');
    // Several different, increasing lengths were on screen before the response completed.
    expect(lengths.length).toBeGreaterThanOrEqual(3);
    const shown = await page.locator('#output').textContent();
    expect(shown).toContain('You asked: "Watch me grow".');
    expect(shown!.length).toBeGreaterThan(lengths[lengths.length - 1]);
    // The demo upstream writes sentences: capitals after each full stop, and a full stop at the end.
    expect(shown).toMatch(/\. [A-Z]/);
    expect(shown).toMatch(/\.$/);

    const stored = await serverView(completedId);
    expect(stored.body.status).toBe('completed');
    expect(textOf(stored.body)).toBe(shown);
  }, 120000);

  test('cancels a running response and shows it as cancelled with its partial text', async () => {
    cancelledId = await submit('Cancel me halfway');
    await page.waitForFunction(() => document.getElementById('output')!.textContent!.length > 0, null, { timeout: WAIT_MS });
    await page.click('#cancel');
    await waitForStatus('cancelled');
    expect(await page.locator('#output').textContent()).toContain('Cancel me halfway');

    const stored = await serverView(cancelledId);
    expect(stored.body.status).toBe('cancelled');
    expect(await page.locator('#cancel').isDisabled()).toBe(true);
    expect(await page.locator('#lifecycle li[data-step="end"]').textContent()).toBe('cancelled');
    expect(await page.locator('#watching').textContent()).toContain('Finished as cancelled');
  }, 120000);

  test('follows a response by resuming its event stream after a dropped connection, and shows the same text as the store', async () => {
    await page.check('#mode-stream');
    const id = await submit('Stream me');
    await page.waitForFunction(() => document.getElementById('output')!.textContent!.length > 0, null, { timeout: WAIT_MS });
    await page.waitForSelector('#reconnect:not([disabled])', { timeout: WAIT_MS });
    expect(await page.locator('#watching').textContent()).toContain('streamed from GET /responses/{id}?stream=true');
    await page.click('#reconnect');
    const { lengths, status } = await watchTextGrow();
    expect(status).toBe('completed');
    expect(lengths.length).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#progress').textContent()).toMatch(/\d+ connections \(resumed with starting_after\)/);

    const stored = await serverView(id);
    expect(stored.body.status).toBe('completed');
    // No event was lost or repeated across the resume.
    expect(await page.locator('#output').textContent()).toBe(textOf(stored.body));
    await page.check('#mode-poll');
  }, 120000);

  test('deletes the response on screen from the server and from the recent list', async () => {
    const id = (await page.locator('#response-id').textContent())!;
    await expect(page.locator(`.recent-item[data-id="${id}"]`).count()).resolves.toBe(1);
    await page.click('#delete');
    await waitForStatus('deleted');
    await expect(page.locator(`.recent-item[data-id="${id}"]`).count()).resolves.toBe(0);
    expect((await serverView(id)).status).toBe(404);
  }, 60000);

  test('shows the OpenAI-shaped error the router answers with', async () => {
    await page.fill('#model', '');
    await page.click('#run');
    await page.waitForSelector('#error:not([hidden])', { timeout: WAIT_MS });
    const message = await page.locator('#error').textContent();
    expect(message).toMatch(/^HTTP 400: /);
    expect(message).toContain('model');
    expect(message).toContain('invalid_request_error');
    await page.fill('#model', 'demo');
  }, 60000);

  test("lists this browser's recent responses with their statuses after a reload, and shows one when clicked", async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
    await expect(page.locator(`.recent-item[data-id="${completedId}"]`).getAttribute('data-status')).resolves.toBe('completed');
    await expect(page.locator(`.recent-item[data-id="${cancelledId}"]`).getAttribute('data-status')).resolves.toBe('cancelled');

    await page.click(`.recent-item[data-id="${completedId}"]`);
    await waitForStatus('completed');
    expect(await page.locator('#response-id').textContent()).toBe(completedId);
    expect(await page.locator('#output').textContent()).toContain('You asked: "Watch me grow"');
    expect(await page.locator('#error').isHidden()).toBe(true);
  }, 60000);

  test('holds its layout on a phone-sized screen, and has a favicon', async () => {
    const phone = await browser!.newPage({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    try {
      await phone.goto(`${origin}/`);
      await phone.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
      // Nothing wider than the screen: no sideways scrolling.
      expect(await phone.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
      for (const selector of ['#prompt', '#model', '#run', '#cancel', '#reconnect', '#delete', '#output', '#lifecycle', '#watching']) {
        const box = await phone.locator(selector).boundingBox();
        expect({ selector, fits: box !== null && box.x >= 0 && box.x + box.width <= 360 }).toEqual({ selector, fits: true });
      }
      await phone.screenshot({ path: path.join(ROOT, 'test-artifacts/demo-page-phone.png'), fullPage: true });

      const icon = await phone.locator('link[rel="icon"]').getAttribute('href');
      const res = await fetch(new URL(icon!, `${origin}/`));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('image/svg+xml');
      expect(await res.text()).toContain('<svg');
    } finally {
      await phone.close();
    }
  }, 60000);
});
