// Starts a local 3-master Redis Cluster for tests (three redis-server processes joined with
// `redis-cli --cluster create`), and stops it.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server';

const run = promisify(execFile);

/** A running cluster owned by a test. */
export interface RedisClusterHandle {
  /** `redis://127.0.0.1:<port>` of each master. */
  readonly urls: string[];
  readonly ports: number[];
  /** Stops every node (SIGTERM, then SIGKILL after 3 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'The Redis Cluster tests need redis-server and redis-cli on PATH (Debian/Ubuntu: ' +
  '`apt-get install redis-server redis-tools`, macOS: `brew install redis`).';

/** Starts three cluster-enabled nodes, joins them (no replicas), and waits for cluster_state:ok. */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  await requireTool('redis-cli');
  await requireTool('redis-server');
  const dir = mkdtempSync(path.join(tmpdir(), 'rp-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    await Promise.all(children.map(terminate));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      children.push(await launchNode(dir, port));
      ports.push(port);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    await waitForClusterOk(ports, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls: ports.map((p) => `redis://127.0.0.1:${p}`), ports, stop };
}

async function requireTool(tool: string): Promise<void> {
  try {
    await run(tool, ['--version']);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${tool} was not found on PATH. ${INSTALL_HINT}`);
    throw err;
  }
}

async function launchNode(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server (cluster node ${port}) exited with ${code}: ${output.slice(-500)}`)));
  });
  exited.catch(() => undefined);
  const deadline = Date.now() + 10_000;
  try {
    for (;;) {
      const pong = await Promise.race([exited, cli(port, 'PING').catch(() => '')]);
      if (pong === 'PONG') return child;
      if (Date.now() > deadline) throw new Error(`cluster node ${port} did not answer PING`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await terminate(child);
    throw err;
  }
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 });
  return stdout.trim();
}

async function waitForClusterOk(ports: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const infos = await Promise.all(ports.map((p) => cli(p, 'CLUSTER', 'INFO').catch(() => '')));
    if (infos.every((info) => info.includes('cluster_state:ok'))) return;
    if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
