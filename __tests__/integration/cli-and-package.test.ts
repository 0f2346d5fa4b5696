// The built package as users get it: the CLI started as a process with a YAML file, the entry
// points for CommonJS `require` and ESM `import`, a tarball packed from a clean clone and
// installed into fresh apps, its types as `@arethetypeswrong/cli` sees them, and its documentation.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import { createClient } from '@redis/client';
import express from 'express';
import OpenAI from 'openai';
import { responsesPolling } from '../../lib';
import { silentLogger } from '../../lib/logger';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
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
    expect(stdout).toMatch(/^responses-polling \d+\.\d+\.\d+: store memory \(this process only\), 1 model \(1 deployment\); listening on /);

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

/** A CLI process: its output so far, its ready URL, and its exit. */
interface CliRun {
  proc: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, REDIS_URL: '', ...env } });
  const out = { stdout: '', stderr: '' };
  proc.stdout!.on('data', (c) => (out.stdout += c));
  proc.stderr!.on('data', (c) => (out.stderr += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out, exited };
}

async function readyUrl(run: CliRun): Promise<string> {
  return waitFor(() => /listening on (http:\/\/\S+)\n/.exec(run.out.stdout)?.[1], 15000, `ready line (stderr: ${run.out.stderr})`);
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Writes raw bytes on a fresh connection; resolves what came back once the server closed it. */
function rawExchange(port: number, bytes: string, endAfterMs?: number): Promise<{ data: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    socket.on('data', (c) => (data += c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ data, closedAfterMs: Date.now() - started }));
    if (endAfterMs) setTimeout(() => reject(new Error(`the server kept the connection open for ${endAfterMs} ms`)), endAfterMs).unref();
  });
}

describe('the CLI as an operator runs it', () => {
  const runs: CliRun[] = [];
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = spawnCli(args, env);
    runs.push(r);
    return r;
  };
  afterEach(() => {
    for (const r of runs.splice(0)) r.proc.kill('SIGKILL');
  });

  test('--version prints the package version and --help every flag, each exiting 0', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await run(process.execPath, [CLI, '--version'])).stdout).toBe(`${pkg.version}\n`);
    expect((await run(process.execPath, [CLI, '-v'])).stdout).toBe(`${pkg.version}\n`);
    const help = (await run(process.execPath, [CLI, '--help'])).stdout;
    for (const flag of ['--config', '--port', '--host', '--prefix', '--demo', '--health-path', '--metrics-path', '--ops-auth', '--require-store', '--headers-timeout-ms', '--request-timeout-ms', '--max-connections', '--role', '--version', '--help', 'PORT', 'HOST', 'REDIS_URL']) {
      expect(help).toContain(flag);
    }
    const bad = await run(process.execPath, [CLI, '--no-such-flag']).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toContain('--help');
  });

  test('takes PORT and HOST from the environment, says which store and how many models, and answers unknown routes with OpenAI-shaped JSON', async () => {
    const port = await closedPort();
    const r = cli(['--demo', '--prefix', '/gw'], { PORT: String(port), HOST: '127.0.0.1' });
    const url = await readyUrl(r);
    expect(url).toBe(`http://127.0.0.1:${port}/gw`);
    expect(r.out.stdout).toMatch(/: store memory \(this process only\), 1 model \(1 deployment\); listening on /);
    for (const [method, where] of [['GET', '/nope'], ['POST', '/gw/v1/nothing-here'], ['DELETE', '/']] as const) {
      const res = await fetch(`http://127.0.0.1:${port}${where}`, { method });
      expect({ where, status: res.status, type: res.headers.get('content-type') }).toEqual({ where, status: 404, type: expect.stringContaining('application/json') });
      expect(await res.json()).toEqual({ error: { message: `Invalid URL (${method} ${where})`, type: 'invalid_request_error', param: null, code: null } });
    }
    const flagWins = cli(['--demo', '--port', '0'], { PORT: String(port) });
    expect(await readyUrl(flagWins)).not.toContain(`:${port}`);
  });

  test('/healthz and /metrics are open by default; --ops-auth requires the master key for both, and refuses to start without one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rp-cli-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, 'model_list: []\ngeneral_settings:\n  master_key: sk-ops-master\n');
    const open = cli(['--config', file, '--port', '0']);
    const openOrigin = new URL(await readyUrl(open)).origin;
    expect((await fetch(`${openOrigin}/healthz`)).status).toBe(200);
    expect((await fetch(`${openOrigin}/metrics`)).status).toBe(200);

    const guarded = cli(['--config', file, '--port', '0', '--ops-auth']);
    const origin = new URL(await readyUrl(guarded)).origin;
    for (const where of ['/healthz', '/metrics']) {
      const anonymous = await fetch(`${origin}${where}`);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
      expect((await fetch(`${origin}${where}`, { headers: { authorization: 'Bearer sk-wrong' } })).status).toBe(401);
      expect((await fetch(`${origin}${where}`, { headers: { authorization: 'Bearer sk-ops-master' } })).status).toBe(200);
      expect((await fetch(`${origin}${where}`, { headers: { 'api-key': 'sk-ops-master' } })).status).toBe(200);
    }

    const keyless = await run(process.execPath, [CLI, '--demo', '--port', '0', '--ops-auth'], { env: { ...process.env, REDIS_URL: '' } }).catch((e: { code: number; stderr: string }) => e);
    expect(keyless).toMatchObject({ code: 1 });
    expect((keyless as { stderr: string }).stderr).toContain('--ops-auth needs a master key');
  });

  test('closes a connection whose headers do not arrive within --headers-timeout-ms and caps connections at --max-connections, while a long stream outlives --request-timeout-ms', async () => {
    const r = cli(['--demo', '--port', '0', '--headers-timeout-ms', '300', '--request-timeout-ms', '600', '--max-connections', '3']);
    const url = await readyUrl(r);
    const port = Number(new URL(url).port);

    const slow = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 10000);
    expect(slow.data).toMatch(/^HTTP\/1\.1 408/);

    // A stream that runs for longer than the request timeout: the timeout covers receiving the request only.
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const started = Date.now();
    const stream = await client.responses.create({ model: 'demo', input: 'a long one', background: true, stream: true });
    let last = '';
    for await (const event of stream) last = event.type;
    expect(last).toBe('response.completed');
    expect(Date.now() - started).toBeGreaterThan(600);

    // Three idle connections fill the cap; a fourth is closed without an answer.
    const held = await Promise.all([0, 1, 2].map(() => new Promise<net.Socket>((resolve) => { const s = net.connect(port, '127.0.0.1', () => resolve(s)); s.on('error', () => undefined); })));
    const refused = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    expect(refused.data).toBe('');
    for (const s of held) s.destroy();
  });

  test('a REDIS_URL where nothing listens: a clear warning and a health check saying unreachable; with --require-store it exits 1', async () => {
    const port = await closedPort();
    const env = { REDIS_URL: `redis://127.0.0.1:${port}/3` };
    const r = cli(['--demo', '--port', '0'], env);
    const origin = new URL(await readyUrl(r)).origin;
    expect(r.out.stdout).toContain(`store redis 127.0.0.1:${port}/3`);
    expect(r.out.stderr).toContain(`warning: the store (redis 127.0.0.1:${port}/3) is unreachable`);
    expect(r.out.stderr).toContain('--require-store');
    const health = await fetch(`${origin}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'unavailable', store: 'unreachable' });

    const strict = cli(['--demo', '--port', '0', '--require-store'], env);
    expect(await strict.exited).toBe(1);
    expect(strict.out.stdout).toBe('');
    expect(strict.out.stderr).toContain(`The store (redis 127.0.0.1:${port}/3) cannot be used (--require-store)`);
  });

  test('a wrong Redis password or user ends the CLI at start-up with a clear message that never shows the password', async () => {
    const admin = createClient({ url: testRedisUrl() });
    await admin.connect();
    const user = `rp-cli-${randomPrefix().slice(2, 14)}`;
    await admin.sendCommand(['ACL', 'SETUSER', user, 'on', '>right-password-1', '~*', '&*', '+@all']);
    try {
      const base = new URL(testRedisUrl());
      for (const credentials of [`${user}:wrong-password-2`, `nobody-${user}:wrong-password-2`]) {
        const r = cli(['--demo', '--port', '0'], { REDIS_URL: `redis://${credentials}@${base.host}` });
        expect(await r.exited).toBe(1);
        expect(r.out.stdout).toBe('');
        expect(r.out.stderr).toContain('Redis refused the credentials');
        expect(r.out.stderr).toContain(`redis ${base.hostname}:${base.port}/0`);
        expect(r.out.stderr).not.toContain('wrong-password-2');
      }
      const good = cli(['--demo', '--port', '0', '--require-store'], { REDIS_URL: `redis://${user}:right-password-1@${base.host}` });
      await readyUrl(good);
      expect(good.out.stdout).not.toContain('right-password-1');
    } finally {
      await admin.sendCommand(['ACL', 'DELUSER', user]);
      await admin.close();
    }
  });
});

describe('the health check of a host app', () => {
  test('says auth_failed when Redis refuses the credentials, and unreachable when the connection is refused', async () => {
    const admin = createClient({ url: testRedisUrl() });
    await admin.connect();
    const user = `rp-health-${randomPrefix().slice(2, 14)}`;
    await admin.sendCommand(['ACL', 'SETUSER', user, 'on', '>right-password-1', '~*', '&*', '+@all']);
    const base = new URL(testRedisUrl());
    const port = await closedPort();
    const routers = [`redis://${user}:wrong@${base.host}`, `redis://127.0.0.1:${port}`].map((redis) => responsesPolling({ redis, auth: 'none', logger: silentLogger }));
    const app = express();
    routers.forEach((router, i) => app.get(`/healthz/${i}`, router.healthCheck()));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const stateOf = async (i: number) => ((await (await fetch(`${origin}/healthz/${i}`)).json()) as { store: string }).store;
      // The first check may come before the first connection attempt failed.
      expect(await waitFor(async () => ((await stateOf(0)) === 'auth_failed' ? 'auth_failed' : undefined), 10000, 'auth_failed')).toBe('auth_failed');
      expect(await waitFor(async () => ((await stateOf(1)) === 'unreachable' ? 'unreachable' : undefined), 10000, 'unreachable')).toBe('unreachable');
      const res = await fetch(`${origin}/healthz/0`);
      expect(res.status).toBe(503);
      expect(JSON.stringify(await res.json())).not.toContain('wrong');
    } finally {
      server.close();
      await Promise.all(routers.map((r) => r.close()));
      await admin.sendCommand(['ACL', 'DELUSER', user]);
      await admin.close();
    }
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

/** What differs from the commit in a clone (its linked node_modules aside), as `git status` lines. */
async function changedIn(clone: string): Promise<string[]> {
  const { stdout } = await run('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: clone });
  return stdout.split('\n').filter((line) => line && line !== '?? node_modules');
}

/** The link targets of a markdown page outside fenced code: inline links and images, reference definitions, HTML href and src. */
function linkTargetsOf(markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [
    ...[...text.matchAll(/\]\(([^)\s]+)/g)].map((m) => ({ at: m.index!, target: m[1] })),
    ...[...text.matchAll(/^ {0,3}\[[^\]]+\]:[ \t]*(\S+)/gm)].map((m) => ({ at: m.index!, target: m[1] })),
    ...[...text.matchAll(/\b(?:href|src)=["']([^"']+)/g)].map((m) => ({ at: m.index!, target: m[1] })),
  ]
    .sort((a, b) => a.at - b.at)
    .map((m) => m.target);
}

/** The versions the lockfile pins, so a fresh app installs from the local npm cache. */
function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  return lock.packages[`node_modules/${name}`].version;
}

// One background response through the installed package, with the official client, against the
// package's own demo upstream; prints what it saw as one JSON line.
const APP_BODY = `
  const demo = await startDemoUpstream({ wordDelayMs: 1 });
  const app = express();
  const polling = responsesPolling({ models: [{ modelName: 'demo', model: 'openai/demo', apiBase: demo.url }], masterKey: 'sk-fresh-app' });
  app.use('/llm', polling);
  const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  const client = new OpenAI({ baseURL: 'http://127.0.0.1:' + server.address().port + '/llm/v1', apiKey: 'sk-fresh-app', maxRetries: 0 });
  const created = await client.responses.create({ model: 'demo', input: 'hello', background: true });
  let now = created;
  for (let i = 0; i < 200 && !['completed', 'failed', 'cancelled', 'incomplete'].includes(now.status); i++) {
    await new Promise((r) => setTimeout(r, 50));
    now = await client.responses.retrieve(created.id);
  }
  process.stdout.write(JSON.stringify({ first: created.status, status: now.status, text: now.output_text.length > 0, id: now.id === created.id }));
  await polling.close();
  server.close();
  await demo.close();
`;

describe('a tarball packed from a clean clone', () => {
  let dir: string;
  let tarball: string;
  let files: string[];
  const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund'], { cwd, env: { ...process.env, npm_config_loglevel: 'error' }, maxBuffer: 1 << 24 });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rp-pack-'));
    // A clone holds only what is committed: no dist/. Its build tools are this checkout's
    // node_modules, linked rather than installed again (`npm ci` of the lockfile is what
    // .ci/run does; here it would only add a minute of disk work).
    await run('git', ['clone', '--quiet', ROOT, path.join(dir, 'clone')]);
    expect(existsSync(path.join(dir, 'clone/dist'))).toBe(false);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'clone/node_modules'), 'dir');
    const { stdout } = await npm(['pack', '--pack-destination', dir], path.join(dir, 'clone'));
    tarball = path.join(dir, stdout.trim().split('\n').pop()!);
    files = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  }, 240000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('holds the build, the types for both conditions, the docs and the license, and no sources or tests', async () => {
    for (const f of ['dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/cli.js', 'dist/esm/index.mjs', 'dist/esm/index.d.mts', 'LICENSE', 'README.md', 'CHANGELOG.md', 'docs/README.md', 'docs/configuration.md']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('lib/') || f.startsWith('__tests__/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // Source maps carry their sources, since lib/ is not shipped.
    const map = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/dist/cjs/index.js.map'])).stdout) as { sourcesContent?: string[] };
    expect(map.sourcesContent?.[0]).toContain('export');
  });

  test("its README links the shipped files of this exact version, since the registry page resolves no relative link; the clone's README is unchanged", async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
    const packed = (await run('tar', ['-xzOf', tarball, 'package/README.md'])).stdout;
    const source = readFileSync(path.join(dir, 'clone/README.md'), 'utf8');
    const base = `https://unpkg.com/${pkg.name}@${pkg.version}/`;
    const relative = (target: string) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('//') && !target.startsWith('#');
    const packedTargets = linkTargetsOf(packed);
    expect(packedTargets.filter(relative)).toEqual([]);
    const ours = packedTargets.filter((t) => t.startsWith(base));
    expect(ours.map((t) => t.slice(base.length).split('#')[0]).filter((f) => !files.includes(f))).toEqual([]);
    // Every relative link of the source became one of those, in order, and nothing else changed.
    const sourceRelative = linkTargetsOf(source).filter(relative);
    expect(sourceRelative.length).toBeGreaterThan(5);
    expect(ours).toEqual(sourceRelative.map((t) => base + t));
    expect(packed.split(base).join('')).toBe(source);
    // postpack turned the clone's README back: the working tree is as committed.
    expect(await changedIn(path.join(dir, 'clone'))).toEqual([]);
  });

  test('a pack that failed after rewriting the README is undone by the next pack or postpack', async () => {
    const clone = path.join(dir, 'clone');
    const committed = readFileSync(path.join(clone, 'README.md'), 'utf8');
    const step = (name: string) => run(process.execPath, ['scripts/pack-readme.js', name], { cwd: clone });
    await step('prepack');
    const rewritten = readFileSync(path.join(clone, 'README.md'), 'utf8');
    expect(rewritten).not.toBe(committed);
    // The pack died here (no postpack); a retry rewrites from the source, not from the rewritten text.
    await step('prepack');
    expect(readFileSync(path.join(clone, 'README.md'), 'utf8')).toBe(rewritten);
    await step('postpack');
    expect(readFileSync(path.join(clone, 'README.md'), 'utf8')).toBe(committed);
    // A README left rewritten, then a version bump: the links of the older version still turn back.
    await step('prepack');
    const pkgFile = path.join(clone, 'package.json');
    const pkgText = readFileSync(pkgFile, 'utf8');
    writeFileSync(pkgFile, pkgText.replace(/"version": "[^"]+"/, '"version": "9.9.9"'));
    await step('postpack');
    writeFileSync(pkgFile, pkgText);
    expect(readFileSync(path.join(clone, 'README.md'), 'utf8')).toBe(committed);
    expect(await changedIn(clone)).toEqual([]);
  });

  test('has correct types for require and import by @arethetypeswrong/cli', async () => {
    const attw = path.join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    // It exits non-zero when it finds a problem; the JSON report names them either way.
    const { stdout } = await run(process.execPath, [attw, tarball, '--format', 'json']).catch((e: { stdout: string }) => e);
    const report = JSON.parse(stdout) as { problems: Record<string, unknown[]> };
    expect(Object.keys(report.problems)).toEqual([]);
  });

  test.each([
    ['CommonJS', 'Express 4', 'express4', false],
    ['ESM', 'Express 5', 'express', true],
  ])('installs into a fresh %s app on %s and runs a background response with the openai client', async (_kind, _express, lockName, esm) => {
    const app = path.join(dir, esm ? 'esm-app' : 'cjs-app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: path.basename(app), version: '1.0.0', private: true, ...(esm ? { type: 'module' } : {}) }));
    await npm(['install', '--prefer-offline', tarball, `express@${lockedVersion(lockName)}`, `openai@${lockedVersion('openai')}`], app);
    const source = esm
      ? `import express from 'express';\nimport OpenAI from 'openai';\nimport { responsesPolling, startDemoUpstream } from 'express-responses-polling';\n${APP_BODY}`
      : `const express = require('express');\nconst OpenAI = require('openai');\nconst { responsesPolling, startDemoUpstream } = require('express-responses-polling');\n(async () => {${APP_BODY}})();`;
    writeFileSync(path.join(app, esm ? 'app.mjs' : 'app.js'), source);
    const { stdout } = await run(process.execPath, [esm ? 'app.mjs' : 'app.js'], { cwd: app, timeout: 30000 });
    expect(JSON.parse(stdout)).toEqual({ first: 'queued', status: 'completed', text: true, id: true });
    const installed = JSON.parse(readFileSync(path.join(app, 'node_modules/express/package.json'), 'utf8')) as { version: string };
    expect(installed.version.split('.')[0]).toBe(esm ? '5' : '4');
  }, 120000);

  test("the README's quick start (JS and YAML) runs as written in the CommonJS app", async () => {
    const app = path.join(dir, 'cjs-app');
    if (!existsSync(path.join(app, 'node_modules/express-responses-polling'))) throw new Error('the CommonJS app test above did not install the package');
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const quickStart = readme.slice(readme.indexOf('## Quick start'));
    const js = /```js\n([\s\S]*?)```/.exec(quickStart)![1];
    const yaml = /```yaml\n([\s\S]*?)```/.exec(quickStart)![1];
    expect(js).toContain('app.listen(8080);');
    // Only the port changes, and a probe runs once it listens: the routes are mounted and keyed.
    const probe = `const server = app.listen(0, '127.0.0.1', async () => {
      const base = 'http://127.0.0.1:' + server.address().port + '/llm/v1/responses/resp_unknown';
      const anonymous = (await fetch(base)).status;
      const admin = (await fetch(base, { headers: { authorization: 'Bearer sk-readme-master' } })).status;
      const yaml = require('express-responses-polling').loadConfig('config.yaml');
      process.stdout.write(JSON.stringify({ anonymous, admin, models: yaml.models.map((m) => m.modelName), master: yaml.masterKey === 'sk-readme-master' }));
      process.exit(0);
    });`;
    writeFileSync(path.join(app, 'quickstart.js'), js.replace('app.listen(8080);', probe));
    writeFileSync(path.join(app, 'config.yaml'), yaml);
    const env: NodeJS.ProcessEnv = { ...process.env, MASTER_KEY: 'sk-readme-master', OPENAI_API_KEY: 'sk-readme-upstream' };
    delete env.REDIS_URL;
    const { stdout } = await run(process.execPath, ['quickstart.js'], { cwd: app, env, timeout: 30000 });
    expect(JSON.parse(stdout)).toEqual({ anonymous: 401, admin: 404, models: ['gpt-4o-mini'], master: true });

    // The command the README names, through the bin link npm made for the installed package.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await run(path.join(app, 'node_modules/.bin/responses-polling'), ['--version'], { cwd: app })).stdout).toBe(`${pkg.version}\n`);
  }, 60000);
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
    // The JS quick start stays a glance: ten lines of code at most.
    const quickStart = /## Quick start\n+```js\n([\s\S]*?)```/.exec(readme)![1];
    expect(quickStart.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
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

  test('the docs index links every page in docs/', () => {
    const index = read('docs/README.md');
    expect(docs.filter((page) => page !== 'docs/README.md' && !index.includes(`](${path.basename(page)}`))).toEqual([]);
  });

  test('no page refers to this project\'s tracker items by number', () => {
    for (const page of pages) expect({ page, hits: read(page).match(/\bissues? #?\d+|(?<![\w/[])#\d+\b/gi) }).toEqual({ page, hits: null });
  });
});
