// A TCP proxy in front of a test server whose open connections can be frozen: bytes stop
// flowing both ways while the sockets stay open, as on a network path that went dead.

import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  /** Stops forwarding on every connection open now; later connections are forwarded. */
  freezeOpen(): void;
  /** Connections opened through the proxy so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `targetPort` there. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; server: net.Socket; frozen: boolean }>();
  let connections = 0;
  const proxy = net.createServer((client) => {
    connections++;
    const server = net.connect(targetPort, '127.0.0.1');
    const pair = { client, server, frozen: false };
    pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        // Frozen: bytes are swallowed, never delivered, and nothing is closed.
        if (!pair.frozen) to.write(chunk);
      });
    forward(client, server);
    forward(server, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const s of [client, server]) {
      s.on('error', end);
      s.on('close', () => {
        if (!pair.frozen) end();
      });
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    freezeOpen() {
      for (const pair of pairs) pair.frozen = true;
    },
    async close() {
      for (const { client, server } of pairs) {
        client.destroy();
        server.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
