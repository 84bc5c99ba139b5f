/**
 * The floor of an HTTP-to-HTTP MCP proxy in Node on this machine: the least a gateway's
 * forwarding path can cost, and with `--wal`, the least a write-ahead audit log adds to it. One
 * node:http server in front of one legacy Streamable HTTP upstream (one session, opened at
 * start), doing only what any proxy that inspects traffic must do: read the body, parse it,
 * strip the tool name's prefix, serialise, send it on a keep-alive undici Pool, read the answer,
 * parse it (filters must see what the client gets), serialise, answer as plain JSON. No sessions
 * beyond a fixed id, no pipeline, no limits, no logs, no metrics. It answers `initialize` itself
 * (bench/floor-front.ts, shared with bench/floor-relay.ts).
 *
 * `--wal DIR`: before a request is forwarded, one hash-chained record (SHA-256 of the previous
 * record, SHA-256 of the request text) is written durably to DIR/floor-wal.jsonl (O_DSYNC,
 * positional writes, group commit with one write in flight, as src/audit/writer.ts does); after
 * the answer, one outcome record (SHA-256 of the answer) is queued without waiting. No HMAC, no
 * Merkle tree, no checkpoints, no recovery: a floor, not a log anyone should keep.
 *
 *   node --import tsx bench/floor-proxy.ts --upstream URL [--strip PREFIX] [--wal DIR]
 *
 * Prints {"url": ...} when ready; exits when its stdin closes (the bench's liveness pipe).
 */
import type { ServerResponse } from 'node:http';
import { closeSync, constants, openSync, write } from 'node:fs';
import { hash } from 'node:crypto';
import { join } from 'node:path';
import { Pool } from 'undici';
import { floorServer, listenAndAnnounce, type FloorMessage } from './floor-front.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const upstream = arg('--upstream');
if (upstream === undefined) {
  process.stderr.write('usage: floor-proxy.ts --upstream URL [--strip PREFIX] [--wal DIR]\n');
  process.exit(2);
}
const up = new URL(upstream);
const strip = arg('--strip') ?? '';
const walDir = arg('--wal');
const pool = new Pool(up.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 120_000 });
const baseHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** The minimal write-ahead log (`--wal`): see the file's doc. */
class FloorWal {
  private readonly fd: number;
  private pos = 0;
  private prev = '0'.repeat(64);
  private seq = 0;
  private lines: string[] = [];
  private waiters: (() => void)[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(dir: string) {
    this.fd = openSync(join(dir, 'floor-wal.jsonl'), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC, 0o600);
  }

  /** Queues one record (the digest of `text`); `durable`: resolves once it is on disk. */
  append(kind: string, text: string, durable: boolean): Promise<void> | undefined {
    const line = `{"digest":"${hash('sha256', text, 'hex')}","kind":"${kind}","prev":"${this.prev}","seq":${this.seq},"ts":"${new Date().toISOString()}"}`;
    this.seq += 1;
    this.prev = hash('sha256', line, 'hex');
    this.lines.push(line);
    const p = durable ? new Promise<void>((resolve) => this.waiters.push(resolve)) : undefined;
    this.schedule();
    return p;
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.inFlight || this.lines.length === 0) return;
    this.inFlight = true;
    const buf = Buffer.from(`${this.lines.join('\n')}\n`);
    const waiters = this.waiters;
    this.lines = [];
    this.waiters = [];
    write(this.fd, buf, 0, buf.length, this.pos, (err, n) => {
      // A floor has no failure path: a failed or short write ends the run (the bench sees the exit).
      if (err || n !== buf.length) {
        process.stderr.write(`floor wal: write failed: ${err?.message ?? 'short write'}\n`);
        process.exit(1);
      }
      this.pos += n;
      this.inFlight = false;
      for (const w of waiters) w();
      if (this.lines.length > 0) this.schedule();
    });
  }

  close(): void {
    closeSync(this.fd);
  }
}

const wal = walDir !== undefined ? new FloorWal(walDir) : undefined;
let upHeaders: Record<string, string> = baseHeaders;

async function forward(msg: FloorMessage, res: ServerResponse): Promise<void> {
  if (strip !== '' && typeof msg.params?.name === 'string' && msg.params.name.startsWith(strip)) msg.params.name = msg.params.name.slice(strip.length);
  const body = JSON.stringify(msg);
  const durable = wal?.append('decision', body, true);
  if (durable) await durable;
  const r = await pool.request({ path: up.pathname, method: 'POST', headers: upHeaders, body });
  const answer = JSON.stringify(JSON.parse(await r.body.text()) as unknown);
  wal?.append('outcome', answer, false);
  res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
  res.end(answer);
}

const server = floorServer((msg, res) => {
  forward(msg, res).catch((e: unknown) => {
    // The bench counts a non-200 answer as an error and fails the run.
    if (res.headersSent) res.destroy();
    else res.writeHead(502, { 'content-type': 'text/plain' }).end((e as Error).message);
  });
});

process.stdin.on('end', () => {
  wal?.close();
  process.exit(0);
});
process.stdin.resume();

// Open the upstream session first, as the gateway does, then listen.
const init = await pool.request({
  path: up.pathname,
  method: 'POST',
  headers: baseHeaders,
  body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'floor', version: '0' } } }),
});
const sid = init.headers['mcp-session-id'];
await init.body.dump();
if (typeof sid !== 'string') throw new Error(`upstream initialize gave no session id (HTTP ${init.statusCode})`);
upHeaders = { ...baseHeaders, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
const ack = await pool.request({ path: up.pathname, method: 'POST', headers: upHeaders, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
await ack.body.dump();
listenAndAnnounce(server);
