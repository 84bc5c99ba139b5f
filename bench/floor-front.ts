/**
 * The front door the floors share (bench/floor-relay.ts, bench/floor-proxy.ts): a node:http
 * server that reads each body whole and answers locally what a legacy client sends around its
 * calls (initialize with a fixed session id, notifications with 202, DELETE with 200, any other
 * HTTP method with 405). Every other JSON-RPC request goes to `forward`.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';

export interface FloorMessage {
  id?: unknown;
  method?: string;
  params?: { protocolVersion?: string; name?: unknown };
}

export function floorServer(forward: (msg: FloorMessage, res: ServerResponse) => void): Server {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'DELETE') return void res.writeHead(200).end();
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FloorMessage;
      if (msg.id === undefined) return void res.writeHead(202).end();
      if (msg.method !== 'initialize') return forward(msg, res);
      const body = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: msg.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'floor', version: '0' } } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'mcp-session-id': 'floor' });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 120_000;
  return server;
}

/** Listens on a free loopback port and prints `{"url": ...}` (the bench waits for that line). */
export function listenAndAnnounce(server: Server): void {
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a && typeof a === 'object') process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${a.port}` })}\n`);
  });
}
