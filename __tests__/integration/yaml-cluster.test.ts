// A Redis Cluster configured in YAML (LiteLLM's cache_params.redis_startup_nodes, or
// responses_polling.cluster) serves background responses end to end, store and limiter alike, in
// an app and through the CLI.

import { spawn } from 'node:child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadConfig } from '../../lib/config/load-config';
import { silentLogger } from '../../lib/logger';
import { textTurnEvents } from '../helpers/event-fixtures';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { steps, textOf } from '../helpers/flow';
import { startApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import OpenAI from 'openai';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { randomPrefix } from '../helpers/redis';

const MASTER_KEY = 'sk-cluster-master-0123456789';
const TEXT = 'A cluster keeps each response in one slot.';
const CLI = path.join(__dirname, '..', '..', 'dist', 'cjs', 'cli.js');

let cluster: RedisClusterHandle;
let upstream: FakeUpstream;
let dir: string;
const apps: TestApp[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

beforeEach(async () => {
  upstream = await startFakeUpstream();
  upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rp-yaml-cluster-'));
});

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await upstream.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function yamlFile(redisSection: string, pollingSection = ''): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    file,
    [
      'model_list:',
      '  - model_name: gpt-test',
      '    litellm_params:',
      '      model: openai/gpt-4o-mini',
      `      api_base: ${upstream.url}`,
      '      rpm: 1000',
      'general_settings:',
      '  master_key: os.environ/CLUSTER_TEST_MASTER_KEY',
      redisSection,
      'responses_polling:',
      pollingSection,
      `  key_prefix: "${randomPrefix()}"`,
      '  worker: { flush_interval_ms: 20 }',
    ].join('\n'),
  );
  return file;
}

async function backgroundResponseCompletes(file: string, extraSection = ''): Promise<void> {
  const options = loadConfig(file, { env: { CLUSTER_TEST_MASTER_KEY: MASTER_KEY, CLUSTER_PORT: String(cluster.ports[1]) }, logger: silentLogger });
  expect(options.redis).toMatchObject({ cluster: expect.any(Array) });
  const app = await startApp(options);
  apps.push(app);
  const client = app.client(MASTER_KEY);
  const created = await client.responses.create({ model: 'gpt-test', input: `hello ${extraSection}`, background: true });
  expect(created.status).toBe('queued');
  const done = await waitForStatus(client, created.id, 'completed');
  expect(textOf(done)).toBe(TEXT);
  // The record is on the cluster, so a second app on the same file finds it.
  const other = await startApp(loadConfig(file, { env: { CLUSTER_TEST_MASTER_KEY: MASTER_KEY, CLUSTER_PORT: String(cluster.ports[1]) }, logger: silentLogger }));
  apps.push(other);
  expect((await other.client(MASTER_KEY).responses.retrieve(created.id)).status).toBe('completed');
}

test("LiteLLM's cache_params with redis_startup_nodes serves background responses on a local cluster", async () => {
  // LiteLLM's form: a list of { host, port }; a port may come from the environment (a string there).
  const nodes = [`      - host: 127.0.0.1\n        port: ${cluster.ports[0]}`, '      - host: 127.0.0.1\n        port: os.environ/CLUSTER_PORT'];
  const file = yamlFile(['litellm_settings:', '  cache_params:', '    type: redis', '    redis_startup_nodes:', ...nodes].join('\n'));
  await backgroundResponseCompletes(file, 'cache_params');
});

test('responses_polling.cluster serves background responses on a local cluster', async () => {
  const file = yamlFile('', `  cluster:\n    nodes: ["${cluster.urls[2]}"]`);
  await backgroundResponseCompletes(file, 'responses_polling');
});

test('the CLI serves a YAML file whose Redis is a cluster', async () => {
  if (!fs.existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it).');
  const file = yamlFile(`litellm_settings:\n  cache_params:\n    type: redis\n    redis_startup_nodes: [{ host: 127.0.0.1, port: ${cluster.ports[0]} }]`);
  const env = { ...process.env, CLUSTER_TEST_MASTER_KEY: MASTER_KEY, REDIS_URL: '' };
  const proc = spawn(process.execPath, [CLI, '--config', file, '--port', '0', '--host', '127.0.0.1'], { env });
  let stdout = '';
  proc.stdout.on('data', (c) => (stdout += c));
  try {
    const line = await waitFor(() => /listening on (http:\/\/\S+)\n/.exec(stdout)?.[1], 15000, 'ready line');
    expect(stdout).not.toMatch(/store memory/);
    const client = new OpenAI({ baseURL: `${line}/v1`, apiKey: MASTER_KEY, maxRetries: 0 });
    const created = await client.responses.create({ model: 'gpt-test', input: 'from the cli', background: true });
    expect(textOf(await waitForStatus(client, created.id, 'completed'))).toBe(TEXT);
  } finally {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  }
});
