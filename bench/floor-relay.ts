/**
 * The floor of an HTTP-to-stdio relay in Node on this machine: the least a gateway's stdio path
 * can cost. One node:http server in front of one stdio upstream, doing only what any relay must:
 * read the body, parse it, remap the id, write one line to the child, parse the child's line,
 * restore the id, serialise, answer as plain JSON. No sessions beyond a fixed id, no pipeline,
 * no limits, no logs, no metrics. It answers `initialize` itself so the bench's legacy client
 * can drive it like the gateway.
 *
 *   node --import tsx bench/floor-relay.ts <upstream argv...>     prints {"url": ...} when ready
 */
import type { ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import { floorServer, listenAndAnnounce } from './floor-front.js';

const argv = process.argv.slice(2);
if (argv.length === 0) {
  process.stderr.write('usage: floor-relay.ts <upstream command argv...>\n');
  process.exit(2);
}
const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
const pending = new Map<number, { res: ServerResponse; id: unknown }>();
let nextId = 1;
let buf = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (s: string) => {
  buf += s;
  let nl: number;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const m = JSON.parse(line) as { id?: number };
    const p = typeof m.id === 'number' ? pending.get(m.id) : undefined;
    if (!p) continue;
    pending.delete(m.id as number);
    const body = JSON.stringify({ ...m, id: p.id });
    p.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'mcp-session-id': 'floor' });
    p.res.end(body);
  }
});
// The child exits when the bench closes our stdin (the liveness pipe every bench process has).
process.stdin.on('end', () => {
  child.kill('SIGTERM');
  process.exit(0);
});
process.stdin.resume();

const server = floorServer((msg, res) => {
  const id = nextId++;
  pending.set(id, { res, id: msg.id });
  child.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
});
// Handshake with the upstream first, as the gateway does, then listen.
pending.set(0, {
  id: 0,
  res: {
    writeHead: () => undefined,
    end: () => {
      child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
      listenAndAnnounce(server);
    },
  } as unknown as ServerResponse,
});
child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'floor', version: '0' } } })}\n`);
