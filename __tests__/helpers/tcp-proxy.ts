// A TCP proxy in front of a test server whose open connections can be frozen: bytes stop
// flowing both ways while the sockets stay open, as on a network path that went dead; a thaw
// delivers what the frozen path held, late, as a path that comes back does.

import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  /** Stops forwarding on every connection open now; later connections are forwarded. */
  freezeOpen(): void;
  /**
   * Delivers the bytes each frozen connection held, in order, and forwards again. A connection
   * whose client left while frozen gets its held bytes delivered to the server, then is closed.
   */
  thaw(): void;
  /** Connections opened through the proxy so far. */
  readonly connections: number;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  frozen: boolean;
  /** Bytes held while frozen, per direction. */
  toServer: Buffer[];
  toClient: Buffer[];
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `targetPort` there. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let connections = 0;
  const end = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.server.destroy();
  };
  const proxy = net.createServer((client) => {
    connections++;
    const server = net.connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, server, frozen: false, toServer: [], toClient: [] };
    pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket, held: Buffer[]) =>
      from.on('data', (chunk: Buffer) => {
        // Frozen: bytes are held, not delivered, and nothing is closed.
        if (pair.frozen) held.push(chunk);
        else if (!to.destroyed) to.write(chunk);
      });
    forward(client, server, pair.toServer);
    forward(server, client, pair.toClient);
    for (const s of [client, server]) {
      s.on('error', () => end(pair));
      s.on('close', () => {
        if (!pair.frozen) end(pair);
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
    thaw() {
      for (const pair of [...pairs]) {
        if (!pair.frozen) continue;
        pair.frozen = false;
        const { client, server } = pair;
        if (!server.destroyed) for (const chunk of pair.toServer.splice(0)) server.write(chunk);
        if (!client.destroyed) for (const chunk of pair.toClient.splice(0)) client.write(chunk);
        // The client gave up meanwhile: the server still gets what it sent, then the end of it.
        if (client.destroyed) server.end();
        if (server.destroyed) end(pair);
      }
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
