// Starts a local 3-master Redis Cluster for tests (three redis-server processes joined with
// `redis-cli --cluster create`, optionally with a replica each), kills a node and waits for its
// failover, and stops it.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server';

const run = promisify(execFile);

/** A running cluster owned by a test. */
export interface RedisClusterHandle {
  /** `redis://127.0.0.1:<port>` of each master (as created). */
  readonly urls: string[];
  readonly ports: number[];
  /** Ports of the replicas (as created; empty without replicas). */
  readonly replicaPorts: number[];
  /** The port of the master that serves `key` now (asked of a live node). */
  masterOf(key: string): Promise<number>;
  /** Kills the node on `port` at once (SIGKILL: no goodbye to the cluster bus). */
  kill(port: number): Promise<void>;
  /**
   * Waits until the live nodes agree the cluster is ok again and no slot is served by `deadPort`
   * (a replica took over), within `timeoutMs`.
   */
  waitForFailover(deadPort: number, timeoutMs: number): Promise<void>;
  /** Stops every node (SIGTERM, then SIGKILL after 3 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'The Redis Cluster tests need redis-server and redis-cli on PATH (Debian/Ubuntu: ' +
  '`apt-get install redis-server redis-tools`, macOS: `brew install redis`).';

/** How to start a cluster: by default three masters without replicas. */
export interface ClusterStartOptions {
  /** One replica per master (six nodes). Default false. */
  replicas?: boolean;
  /** `cluster-node-timeout` in ms: how long a silent master takes to be failed over. Default 15000 (Redis's). */
  nodeTimeoutMs?: number;
}

/** Starts three cluster-enabled masters (and their replicas), joins them, and waits for cluster_state:ok. */
export async function startRedisCluster(options: ClusterStartOptions = {}): Promise<RedisClusterHandle> {
  await requireTool('redis-cli');
  await requireTool('redis-server');
  const dir = mkdtempSync(path.join(tmpdir(), 'rp-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const byPort = new Map<number, ChildProcess>();
  const nodes = options.replicas ? 6 : 3;
  const extra = options.nodeTimeoutMs === undefined ? [] : ['--cluster-node-timeout', String(options.nodeTimeoutMs)];
  const stop = async () => {
    await Promise.all(children.map(terminate));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < nodes; i++) {
      const port = await freePort();
      const child = await launchNode(dir, port, extra);
      children.push(child);
      byPort.set(port, child);
      ports.push(port);
    }
    // redis-cli makes the first three the masters and gives each one of the others as a replica.
    const replicas = options.replicas ? '1' : '0';
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', replicas, '--cluster-yes'], {
      timeout: 30_000,
    });
    await waitForClusterOk(ports, 30_000);
    if (options.replicas) await waitForReplicasInSync(ports.slice(3), 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const dead = new Set<number>();
  const live = () => ports.filter((p) => !dead.has(p));
  const masters = ports.slice(0, 3);
  return {
    urls: masters.map((p) => `redis://127.0.0.1:${p}`),
    ports: masters,
    replicaPorts: ports.slice(3),
    async masterOf(key) {
      const [port] = live();
      const slot = Number(await cli(port, 'CLUSTER', 'KEYSLOT', key));
      const owner = slotOwners(await cli(port, 'CLUSTER', 'NODES')).find((o) => o.from <= slot && slot <= o.to);
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      return owner.port;
    },
    async kill(port) {
      const child = byPort.get(port);
      if (!child) throw new Error(`no cluster node on port ${port}`);
      dead.add(port);
      const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
      child.kill('SIGKILL');
      await exited;
    },
    async waitForFailover(deadPort, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const views = await Promise.all(live().map((p) => Promise.all([cli(p, 'CLUSTER', 'INFO'), cli(p, 'CLUSTER', 'NODES')]).catch(() => ['', ''])));
        const settled = views.every(([info, nodesText]) => info.includes('cluster_state:ok') && !slotOwners(nodesText).some((o) => o.port === deadPort));
        if (settled) return;
        if (Date.now() > deadline) throw new Error(`the cluster did not fail over from node ${deadPort} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop,
  };
}

/** Slot ranges and the port of the master serving each, from `CLUSTER NODES`. */
function slotOwners(nodesText: string): Array<{ port: number; from: number; to: number }> {
  const owners: Array<{ port: number; from: number; to: number }> = [];
  for (const line of nodesText.split('\n')) {
    const fields = line.trim().split(' ');
    if (!fields[2]?.includes('master') || fields[2].includes('fail')) continue;
    const port = Number(fields[1].split('@')[0].split(':').pop());
    for (const range of fields.slice(8)) {
      if (range.startsWith('[')) continue; // a slot being migrated
      const [from, to = from] = range.split('-').map(Number);
      owners.push({ port, from, to });
    }
  }
  return owners;
}

/** Waits until every replica reports its link to its master up and the initial sync done. */
async function waitForReplicasInSync(replicaPorts: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const infos = await Promise.all(replicaPorts.map((p) => cli(p, 'INFO', 'replication').catch(() => '')));
    if (infos.every((info) => info.includes('master_link_status:up') && info.includes('master_sync_in_progress:0'))) return;
    if (Date.now() > deadline) throw new Error(`the replicas did not sync within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function requireTool(tool: string): Promise<void> {
  try {
    await run(tool, ['--version']);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${tool} was not found on PATH. ${INSTALL_HINT}`);
    throw err;
  }
}

async function launchNode(dir: string, port: number, extra: string[]): Promise<ChildProcess> {
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
      ...extra,
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
