// Takes the demo page's screenshots for docs/images/ with Debian's Chromium (playwright-core, as
// the browser test does): a desktop and a phone-sized window, each while a response grows.
// Usage: npm run build && node scripts/screenshots.js   (CHROMIUM_PATH overrides /usr/bin/chromium)
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'docs/images');

function startExampleApp() {
  const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', WALKTHROUGH: '0', CONFIG_FILE: '', OPENAI_API_KEY: '', REDIS_URL: '', DEMO_WORD_DELAY_MS: '80' };
  const child = spawn(process.execPath, [path.join(ROOT, 'example-app/server.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let log = '';
    child.stdout.on('data', (c) => {
      log += c;
      const m = /example app listening on (http:\/\/\S+)/.exec(log);
      if (m) resolve({ child, origin: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`the example app exited with ${code}:\n${log}`)));
  });
}

async function shoot(browser, origin, { name, viewport, mode, prompt }) {
  const page = await browser.newPage({ viewport, deviceScaleFactor: 1 });
  await page.goto(origin);
  await page.waitForSelector('body[data-ready="true"]');
  await page.fill('#prompt', prompt);
  await page.check(mode === 'stream' ? '#mode-stream' : '#mode-poll');
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'in_progress' && document.getElementById('output').textContent.length > 120);
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'completed', null, { timeout: 60000 });
  await page.close();
}

async function main() {
  const { child, origin } = await startExampleApp();
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    await shoot(browser, origin, { name: 'demo-desktop', viewport: { width: 1100, height: 900 }, mode: 'poll', prompt: 'What does background mode do?' });
    await shoot(browser, origin, { name: 'demo-phone', viewport: { width: 390, height: 844 }, mode: 'stream', prompt: 'Explain resuming a stream.' });
  } finally {
    await browser.close();
    child.kill('SIGTERM');
  }
  process.stdout.write(`screenshots written to ${path.relative(ROOT, OUT)}/\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
