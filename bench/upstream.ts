/**
 * A deliberately minimal MCP upstream for benchmarks, so that the gateway's cost dominates what
 * is measured. Two faces over one message handler:
 *
 *   node --import tsx bench/upstream.ts --http --tools 20      legacy Streamable HTTP (JSON answers)
 *   node --import tsx bench/upstream.ts --stdio --tools 20     newline-delimited JSON on stdin/stdout
 *
 * Tools are named tool_000 … tool_NNN; every one returns one text block whose length is the
 * call's `arguments.bytes` (default 1024). Answers are pre-serialised: only the id is spliced in.
 * HTTP mode prints one JSON line `{"url": "..."}` on stdout once listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

interface Args {
  mode: 'http' | 'stdio';
  tools: number;
  name: string;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { mode: 'http', tools: 20, name: 'bench-upstream' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--stdio') a.mode = 'stdio';
    else if (k === '--http') a.mode = 'http';
    else if (k === '--tools') a.tools = Math.max(1, Math.min(10_000, Number(argv[++i]) || 1));
    else if (k === '--name') a.name = String(argv[++i]);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const SUPPORTED = ['2025-11-25', '2025-06-18', '2025-03-26'];
const MAX_BYTES = 4 * 1024 * 1024;

const toolNames = Array.from({ length: args.tools }, (_, i) => `tool_${String(i).padStart(3, '0')}`);
const toolSet = new Set(toolNames);
const toolsListTail =
  ',"result":' +
  JSON.stringify({
    tools: toolNames.map((name) => ({
      name,
      description: `Benchmark tool ${name}: returns a text block of the requested size.`,
      inputSchema: { type: 'object', properties: { bytes: { type: 'integer', minimum: 0, maximum: MAX_BYTES, description: 'Result size in bytes' } } },
    })),
  }) +
  '}';

/** Result bodies by size; the cache is small because a benchmark uses a handful of sizes. */
const callTails = new Map<number, string>();
function callTail(bytes: number): string {
  let t = callTails.get(bytes);
  if (t === undefined) {
    const text = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(bytes / 36)).slice(0, bytes);
    t = ',"result":' + JSON.stringify({ content: [{ type: 'text', text }] }) + '}';
    if (callTails.size < 32) callTails.set(bytes, t);
  }
  return t;
}

const reply = (id: unknown, tail: string): string => '{"jsonrpc":"2.0","id":' + JSON.stringify(id) + tail;
const errorTail = (code: number, message: string): string => ',"error":' + JSON.stringify({ code, message }) + '}';

interface Msg {
  id?: unknown;
  method?: string;
  params?: { protocolVersion?: unknown; name?: unknown; arguments?: { bytes?: unknown } };
}

/** The answer to one message, or undefined for notifications and responses. */
function answer(m: Msg): string | undefined {
  if (m.id === undefined || typeof m.method !== 'string') return undefined;
  switch (m.method) {
    case 'tools/call': {
      const name = m.params?.name;
      if (typeof name !== 'string' || !toolSet.has(name)) return reply(m.id, errorTail(-32602, 'Unknown tool'));
      const b = Number(m.params?.arguments?.bytes ?? 1024);
      return reply(m.id, callTail(Number.isInteger(b) && b >= 0 && b <= MAX_BYTES ? b : 1024));
    }
    case 'tools/list':
      return reply(m.id, toolsListTail);
    case 'initialize': {
      const asked = m.params?.protocolVersion;
      const protocolVersion = typeof asked === 'string' && SUPPORTED.includes(asked) ? asked : SUPPORTED[0];
      return reply(m.id, ',"result":' + JSON.stringify({ protocolVersion, capabilities: { tools: {} }, serverInfo: { name: args.name, version: '0.0.0' } }) + '}');
    }
    case 'ping':
      return reply(m.id, ',"result":{}}');
    default:
      return reply(m.id, errorTail(-32601, 'Method not found'));
  }
}

function runStdio(): void {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() === '') continue;
      let out: string | undefined;
      try {
        out = answer(JSON.parse(line) as Msg);
      } catch {
        out = reply(null, errorTail(-32700, 'Parse error'));
      }
      if (out !== undefined) process.stdout.write(out + '\n');
    }
  });
  process.stdin.once('end', () => process.exit(0));
}

function runHttp(): void {
  const sessions = new Set<string>();
  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    let m: Msg;
    try {
      m = JSON.parse(raw) as Msg;
    } catch {
      return send(res, 400, reply(null, errorTail(-32700, 'Parse error')));
    }
    if (m.method === 'initialize') {
      const sid = randomUUID();
      sessions.add(sid);
      return send(res, 200, answer(m)!, { 'mcp-session-id': sid });
    }
    const sid = req.headers['mcp-session-id'];
    // Like a legacy SDK server: no session → 400 (also what a gateway's modern probe sees).
    if (typeof sid !== 'string') return send(res, 400, reply(m.id ?? null, errorTail(-32000, 'Bad Request: no valid session ID')));
    if (!sessions.has(sid)) return send(res, 404, reply(m.id ?? null, errorTail(-32001, 'Session not found')));
    const out = answer(m);
    if (out === undefined) {
      res.writeHead(202).end();
      return;
    }
    send(res, 200, out);
  };
  const server = createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BYTES) chunks.push(c);
      });
      req.on('end', () => handle(req, res, chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
      return;
    }
    if (req.method === 'DELETE') {
      const sid = req.headers['mcp-session-id'];
      if (typeof sid === 'string') sessions.delete(sid);
      res.writeHead(200).end();
      return;
    }
    // No standalone GET stream: 405 tells a client not to retry it.
    res.writeHead(405, { allow: 'POST, DELETE' }).end();
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}/mcp` }) + '\n');
  });
  const stop = (): void => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The bench runner holds our stdin open: if it dies, we must not outlive it.
  process.stdin.resume();
  process.stdin.once('end', stop);
  process.stdin.once('error', stop);
}

if (args.mode === 'stdio') runStdio();
else runHttp();
