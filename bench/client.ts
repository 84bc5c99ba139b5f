/**
 * The load generator: legacy Streamable HTTP MCP sessions over keep-alive undici connections,
 * one session per connection, with the same code for the direct upstream and the gateway.
 * Every response is checked cheaply (status, size) and every 64th one is parsed and checked in
 * full, so a broken path cannot look fast.
 */
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { Client } from 'undici';
import { Samples } from './stats.js';

export const PROTOCOL_VERSION = '2025-11-25';
const REQUEST_TIMEOUT_MS = 30_000;

export interface Reply {
  status: number;
  text: string;
}

/** What one workload sends and how its answers are checked. */
export interface Op {
  body(id: number): string;
  /** Returns a description of what is wrong, or undefined; `full` asks for a complete parse. */
  check(text: string, id: number, full: boolean): string | undefined;
}

const baseHeaders: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Adds `Authorization` to every request made after this call (bench `--auth`). */
export function setAuthorization(value: string): void {
  baseHeaders.authorization = value;
}

function initializeBody(id: number): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'portcullis-bench', version: '0.0.0' } },
  });
}

/** One keep-alive connection carrying one legacy session. */
export class McpConn {
  readonly client: Client;
  sessionId = '';
  private headers: Record<string, string> = baseHeaders;
  private seq = 1;

  constructor(
    origin: string,
    readonly path: string,
  ) {
    this.client = new Client(origin, { pipelining: 1, keepAliveTimeout: 120_000, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  }

  nextId(): number {
    return ++this.seq;
  }

  async post(body: string): Promise<Reply> {
    const r = await this.client.request({ path: this.path, method: 'POST', headers: this.headers, body });
    return { status: r.statusCode, text: await r.body.text() };
  }

  /** initialize (the answer must carry a session id), then notifications/initialized (202). */
  async open(): Promise<this> {
    const s = await initSession(this.client, this.path);
    this.sessionId = s.sessionId;
    this.headers = s.headers;
    return this;
  }

  /** DELETEs the session (best effort, bounded) and closes the connection. */
  async close(): Promise<void> {
    if (this.sessionId) {
      try {
        const r = await this.client.request({ path: this.path, method: 'DELETE', headers: this.headers, signal: AbortSignal.timeout(2000) });
        await r.body.dump();
      } catch {}
    }
    await this.client.destroy().catch(() => undefined);
  }
}

/**
 * Opens a legacy session on `client`: initialize (whose answer must carry a session id and an
 * InitializeResult), then notifications/initialized (202). Returns the headers later requests need.
 */
export async function initSession(client: Client, path: string): Promise<{ sessionId: string; headers: Record<string, string> }> {
  const r = await client.request({ path, method: 'POST', headers: baseHeaders, body: initializeBody(1) });
  const text = await r.body.text();
  const sid = r.headers['mcp-session-id'];
  if (r.statusCode !== 200 || typeof sid !== 'string') throw new Error(`initialize failed: HTTP ${r.statusCode} ${text.slice(0, 200)}`);
  const parsed = JSON.parse(text) as { result?: { protocolVersion?: string } };
  if (typeof parsed.result?.protocolVersion !== 'string') throw new Error(`initialize: no InitializeResult: ${text.slice(0, 200)}`);
  const headers = { ...baseHeaders, 'mcp-session-id': sid, 'mcp-protocol-version': parsed.result.protocolVersion };
  const n = await client.request({ path, method: 'POST', headers, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
  await n.body.dump();
  if (n.statusCode !== 202) throw new Error(`notifications/initialized: HTTP ${n.statusCode}`);
  return { sessionId: sid, headers };
}

/** Opens `n` sessions, each on its own connection. */
export async function openConns(origin: string, path: string, n: number): Promise<McpConn[]> {
  const conns = Array.from({ length: n }, () => new McpConn(origin, path));
  try {
    await Promise.all(conns.map((c) => c.open()));
  } catch (e) {
    await closeConns(conns);
    throw e;
  }
  return conns;
}

export async function closeConns(conns: readonly McpConn[]): Promise<void> {
  await Promise.allSettled(conns.map((c) => c.close()));
}

/**
 * The JSON-RPC message in a POST answer: the body itself when it is JSON, else the data of the
 * last SSE event that carries data (a 2025-11-25 gateway may open a stream with a priming event
 * before the response; events are separated by a blank line, data lines joined by "\n").
 */
export function messageText(text: string): string {
  if (text.charCodeAt(0) === 123) return text;
  // Fast path (keeps the load generator cheap): the last line starting with "data:" holds a whole message.
  const at = text.lastIndexOf('\ndata:');
  if (at >= 0) {
    const start = at + (text.charCodeAt(at + 6) === 32 ? 7 : 6);
    const nl = text.indexOf('\n', start);
    const line = text.slice(start, nl < 0 ? text.length : nl);
    // …unless the line before it is also data (a message split over several data lines).
    if (line.charCodeAt(0) === 123 && !text.startsWith('data:', text.lastIndexOf('\n', at - 1) + 1)) return line;
  }
  return slowMessageText(text);
}

function slowMessageText(text: string): string {
  const events = text.split(/\r?\n\r?\n/);
  for (let i = events.length - 1; i >= 0; i--) {
    const data: string[] = [];
    for (const line of events[i]!.split(/\r?\n/)) {
      if (line.startsWith('data:')) data.push(line.slice(line.charCodeAt(5) === 32 ? 6 : 5));
    }
    const joined = data.join('\n');
    if (joined.trim() !== '') return joined;
  }
  return '';
}

/** `tools/call` of `tool` asking for a text result of `bytes` bytes. */
export function callOp(tool: string, bytes: number): Op {
  const head = '{"jsonrpc":"2.0","id":';
  const tail = `,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":{"bytes":${bytes}}}}`;
  return {
    body: (id) => head + id + tail,
    check(body, id, full) {
      const text = messageText(body);
      if (text.length < bytes + 30 || text.charCodeAt(0) !== 123) return `short or non-JSON answer (${text.length} chars): ${text.slice(0, 160)}`;
      if (!full) return undefined;
      const m = JSON.parse(text) as { id?: unknown; result?: { isError?: boolean; content?: { type?: string; text?: string }[] } };
      const c = m.result?.content?.[0];
      if (m.id !== id) return `answer id ${String(m.id)} for request ${id}`;
      if (m.result?.isError || c?.type !== 'text' || c.text?.length !== bytes) return `wrong tools/call result: ${text.slice(0, 160)}`;
      return undefined;
    },
  };
}

/** `ping`: the gateway answers it itself, so this isolates the front door (HTTP, session, pipeline). */
export function pingOp(): Op {
  return {
    body: (id) => `{"jsonrpc":"2.0","id":${id},"method":"ping"}`,
    check(body, id, full) {
      const text = messageText(body);
      if (text.charCodeAt(0) !== 123) return `non-JSON answer: ${text.slice(0, 160)}`;
      if (!full) return undefined;
      const m = JSON.parse(text) as { id?: unknown; result?: unknown };
      return m.id === id && typeof m.result === 'object' && m.result !== null ? undefined : `wrong ping answer: ${text.slice(0, 160)}`;
    },
  };
}

/** `tools/list` expecting exactly `n` tools on one page. */
export function listOp(n: number): Op {
  return {
    body: (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/list","params":{}}`,
    check(body, id, full) {
      const text = messageText(body);
      if (text.length < n * 40 || text.charCodeAt(0) !== 123) return `short or non-JSON answer (${text.length} chars): ${text.slice(0, 160)}`;
      if (!full) return undefined;
      const m = JSON.parse(text) as { id?: unknown; result?: { tools?: { name?: string }[]; nextCursor?: string } };
      if (m.id !== id) return `answer id ${String(m.id)} for request ${id}`;
      const tools = m.result?.tools;
      if (!Array.isArray(tools) || tools.length !== n || new Set(tools.map((t) => t.name)).size !== n) return `expected ${n} tools, got ${tools?.length}`;
      if (m.result?.nextCursor !== undefined) return 'unexpected second page';
      return undefined;
    },
  };
}

export interface LoopResult {
  samples: Samples;
  errors: number;
  firstError: string | undefined;
  seconds: number;
  /** Paced loops: the deepest backlog of due-but-unsent requests (0 = the rate was held). */
  maxBacklog: number;
}

const MAX_ERRORS = 50;

/** Sends one request on `conn`, checks it and records its latency; returns false on error. */
async function one(conn: McpConn, op: Op, full: boolean, out: LoopResult): Promise<boolean> {
  const id = conn.nextId();
  const t0 = performance.now();
  let bad: string | undefined;
  try {
    const r = await conn.post(op.body(id));
    const dt = performance.now() - t0;
    bad = r.status !== 200 ? `HTTP ${r.status}: ${r.text.slice(0, 160)}` : op.check(r.text, id, full);
    if (!bad) {
      out.samples.add(dt);
      return true;
    }
  } catch (e) {
    bad = (e as Error).message;
  }
  out.errors++;
  out.firstError ??= bad;
  return false;
}

/**
 * Closed loop: every connection sends its next request as soon as the previous answer arrives,
 * until `durationMs` has passed or `maxRequests` were sent.
 */
export async function closedLoop(conns: readonly McpConn[], op: Op, limit: { durationMs?: number; maxRequests?: number }): Promise<LoopResult> {
  const out: LoopResult = { samples: new Samples(), errors: 0, firstError: undefined, seconds: 0, maxBacklog: 0 };
  const start = performance.now();
  const end = start + (limit.durationMs ?? 600_000);
  const max = limit.maxRequests ?? Number.MAX_SAFE_INTEGER;
  let started = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (started < max && performance.now() < end && out.errors < MAX_ERRORS) {
        const n = started++;
        await one(c, op, (n & 63) === 0, out);
      }
    }),
  );
  out.seconds = (performance.now() - start) / 1000;
  return out;
}

/**
 * Open loop at a fixed rate: a 1 ms ticker releases the requests that are due, each on an idle
 * connection; if none is idle the request waits in a backlog (reported, so a saturated run is
 * visible). Latency is measured from the moment a request is sent.
 */
export function pacedLoop(conns: readonly McpConn[], op: Op, ratePerSec: number, durationMs: number): Promise<LoopResult> {
  const out: LoopResult = { samples: new Samples(), errors: 0, firstError: undefined, seconds: 0, maxBacklog: 0 };
  const idle = [...conns];
  let backlog = 0;
  let scheduled = 0;
  let inFlight = 0;
  let sent = 0;
  const start = performance.now();
  return new Promise<LoopResult>((resolve) => {
    let stopped = false;
    const finish = (): void => {
      if (stopped && inFlight === 0) {
        clearTimeout(hardStop);
        out.seconds = (performance.now() - start) / 1000;
        resolve(out);
      }
    };
    const fire = (c: McpConn): void => {
      inFlight++;
      void one(c, op, (sent++ & 63) === 0, out).then(() => {
        inFlight--;
        if (backlog > 0 && !stopped) {
          backlog--;
          fire(c);
        } else idle.push(c);
        finish();
      });
    };
    const ticker = setInterval(() => {
      const elapsed = performance.now() - start;
      if (elapsed >= durationMs || out.errors >= MAX_ERRORS) {
        clearInterval(ticker);
        stopped = true;
        finish();
        return;
      }
      const due = Math.floor((elapsed * ratePerSec) / 1000);
      while (scheduled < due) {
        scheduled++;
        const c = idle.pop();
        if (c) fire(c);
        else backlog++;
      }
      if (backlog > out.maxBacklog) out.maxBacklog = backlog;
    }, 1);
    // Bounded even if a request hangs: undici's own timeouts fire well before this.
    const hardStop = setTimeout(() => {
      clearInterval(ticker);
      stopped = true;
      inFlight = 0;
      out.errors++;
      out.firstError ??= 'paced loop did not drain';
      finish();
    }, durationMs + REQUEST_TIMEOUT_MS + 5_000);
  });
}

/** Opens an idle legacy GET stream for a session on its own socket; resolves once it is 200 SSE. */
export function openGetStream(url: URL, sessionId: string, timeoutMs: number): Promise<ClientRequest> {
  return new Promise<ClientRequest>((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'GET',
        agent: false,
        headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL_VERSION },
      },
      (res: IncomingMessage) => {
        clearTimeout(timer);
        const type = String(res.headers['content-type'] ?? '');
        if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
          res.resume();
          req.destroy();
          reject(new Error(`GET stream: HTTP ${res.statusCode} ${type}`));
          return;
        }
        res.resume(); // keep-alive comments are read and dropped
        resolve(req);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('GET stream: no answer in time'));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}
