// The built package as users get it: the CLI started as a process with a YAML file, the entry
// points for CommonJS `require` and ESM `import`, and the documentation it ships.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { ev, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { waitFor } from '../helpers/app';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cjs/cli.js');
const run = promisify(execFile);

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it).');
});

describe('the CLI', () => {
  let upstream: FakeUpstream;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await upstream.close();
  });

  test('serves a YAML configuration under its prefix, prints one ready line, and exits cleanly on SIGTERM', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rp-cli-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(
      file,
      [
        'model_list:',
        '  - model_name: gpt-cli',
        '    litellm_params:',
        '      model: openai/gpt-4o-mini',
        `      api_base: ${upstream.url}`,
        '      api_key: os.environ/CLI_TEST_UPSTREAM_KEY',
        'litellm_settings:',
        '  responses:',
        '    background_mode:',
        '      polling_via_cache: "all"',
        '      ttl: 120',
        'general_settings:',
        '  master_key: os.environ/CLI_TEST_MASTER_KEY',
        '',
      ].join('\n'),
    );
    upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents('from the cli').map((e) => ev(e)) }));
    const env = { ...process.env, CLI_TEST_UPSTREAM_KEY: 'sk-cli-upstream', CLI_TEST_MASTER_KEY: 'sk-cli-master', REDIS_URL: '' };
    const proc = spawn(process.execPath, [CLI, '--config', file, '--port', '0', '--host', '127.0.0.1', '--prefix', '/gw'], { env });
    child = proc;
    let stdout = '';
    proc.stdout!.on('data', (c) => (stdout += c));
    const line = await waitFor(() => /listening on (http:\/\/\S+)\n/.exec(stdout)?.[1], 15000, 'ready line');
    expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/gw$/);

    const client = new OpenAI({ baseURL: `${line}/v1`, apiKey: 'sk-cli-master', maxRetries: 0 });
    const created = await client.responses.create({ model: 'gpt-cli', input: 'hi', background: true });
    const done = await waitFor(async () => {
      const r = await client.responses.retrieve(created.id);
      return r.status === 'completed' ? r : undefined;
    });
    expect(done.output_text).toBe('from the cli');
    expect(upstream.requests[0].headers.authorization).toBe('Bearer sk-cli-upstream');

    const origin = new URL(line).origin;
    const health = await fetch(`${origin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', store: 'ok', running: 0 });
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    expect(metrics).toMatch(/responses_polling_responses_total\{path="polling",status="completed"\} 1/);

    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  test('a configuration error exits non-zero with the path and the fix', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rp-cli-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'litellm_settings:\n  responses:\n    background_mode:\n      polling_via_cache: true\n');
    const err = await run(process.execPath, [CLI, '--config', file, '--port', '0']).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain('polling_via_cache');
    expect((err as { stderr: string }).stderr).toContain('"all"');
  });
});

describe('the package entry points', () => {
  test('CommonJS require exposes the factory, the parts, the stores and loadConfig', async () => {
    const script = `const m = require('express-responses-polling');
      const names = ['responsesPolling','auth','preCallLimiter','backgroundModeRouter','pollingHandler','MemoryStore','createRedisStore','loadConfig'];
      process.stdout.write(names.map((n) => typeof m[n]).join(','));`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: ROOT });
    expect(stdout).toBe('function,function,function,function,function,function,function,function');
  });

  test('ESM import exposes the same functions as require', async () => {
    const script = `import { responsesPolling, MemoryStore, loadConfig } from 'express-responses-polling';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('express-responses-polling');
      process.stdout.write(String(responsesPolling === cjs.responsesPolling && MemoryStore === cjs.MemoryStore && typeof loadConfig === 'function'));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    expect(stdout).toBe('true');
  });

  test('type declarations are shipped beside the CommonJS build', () => {
    expect(existsSync(path.join(ROOT, 'dist/cjs/index.d.ts'))).toBe(true);
  });
});

describe('the documentation', () => {
  const docs = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const pages = ['README.md', 'CHANGELOG.md', 'BENCHMARKS.md', ...docs];
  const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
  const withoutCode = (text: string) => text.replace(/```[\s\S]*?```/g, '');
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchorsOf = (text: string) =>
    [...withoutCode(text).matchAll(/^#+ (.*)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'));

  test('the README is short and opens with the prerequisites and the two commands', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    const firstScreen = readme.split('\n').slice(0, 20).join('\n');
    for (const needed of ['npm start', 'npm test', 'Node.js 20', 'redis-server', 'chromium', 'bash .ci/run']) expect(firstScreen).toContain(needed);
    expect(readme).toContain('npm install express-responses-polling');
  });

  test('every relative link in the README and docs/ points at a file the package ships, and at a heading that exists', () => {
    const pkg = JSON.parse(read('package.json')) as { files: string[] };
    const shipped = (file: string) => ['package.json', ...pkg.files].some((f) => file === f || file.startsWith(`${f}/`));
    const broken: string[] = [];
    for (const page of ['README.md', 'CHANGELOG.md', ...docs]) {
      for (const [, target] of withoutCode(read(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split('#');
        const resolved = file ? path.posix.normalize(path.posix.join(path.posix.dirname(page), file)) : page;
        if (!existsSync(path.join(ROOT, resolved)) || !shipped(resolved)) broken.push(`${page}: ${target} (not shipped)`);
        else if (anchor && !anchorsOf(read(resolved)).includes(anchor)) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  test('no page refers to this project\'s tracker items by number', () => {
    for (const page of pages) expect({ page, hits: read(page).match(/\bissues? #?\d+|(?<![\w/[])#\d+\b/gi) }).toEqual({ page, hits: null });
  });
});
