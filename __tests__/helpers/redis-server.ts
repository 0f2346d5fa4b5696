// Starts a real redis-server on a free port for tests, and stops or restarts it on demand.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A redis-server child process owned by a test. */
export interface RedisServerHandle {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with an empty data set (unless started `persistent`). */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open and nothing answers. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
}

/** How {@link startRedisServer} runs the server. */
export interface RedisServerOptions {
  /**
   * Keep the data across `restart()`: an append-only file (fsync on every write) in a fresh
   * temporary directory, as a production Redis with persistence would. Default false.
   */
  persistent?: boolean;
  /** More `redis-server` arguments, such as `['--maxmemory-policy', 'allkeys-lru']`. */
  args?: string[];
}

const INSTALL_HINT =
  'redis-server was not found on PATH. The store tests need a real Redis: install it ' +
  '(Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) or set ' +
  'REDIS_URL to a Redis you can flush.';

/** Starts `redis-server` on a free port and waits until it answers PING. */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const persistence = opts.persistent
    ? ['--dir', mkdtempSync(path.join(tmpdir(), 'rp-redis-')), '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  persistence.push(...(opts.args ?? []));
  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      let child = await launch(port, persistence);
      const handle: RedisServerHandle = {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: () => terminate(child),
        pause: () => void child.kill('SIGSTOP'),
        resume: () => void child.kill('SIGCONT'),
        restart: async () => {
          await terminate(child);
          child = await launch(port, persistence);
        },
      };
      return handle;
    } catch (err) {
      if ((err as Error).message === INSTALL_HINT) throw err;
      lastError = err;
    }
  }
  throw new Error(`could not start redis-server: ${(lastError as Error).message}`);
}

async function launch(port: number, persistence: string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err));
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`)));
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([exited, waitForPong(port, 10_000)]);
  } catch (err) {
    await terminate(child);
    throw err;
  }
  return child;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A paused server acts on SIGTERM only once it runs again.
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pingOnce(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
