/**
 * Shared pieces of the wire-level end-to-end tests: gateway YAML for the mock upstream in each
 * transport, real SDK clients of both eras (v1 `@modelcontextprotocol/sdk` for the legacy era,
 * v2 `@modelcontextprotocol/client` pinned to 2026-07-28 for the modern one), and a raw legacy
 * client over fetch for the tests that must control ids, headers and timing themselves.
 */
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Http } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport as V1Sse } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from '@modelcontextprotocol/client';
import { repoPath, tsNode } from '../helpers/gateway.js';

export const MODERN = '2026-07-28';
export const LEGACY = '2025-11-25';

/** YAML for one upstream entry (flow style) serving the mock upstream. */
export function upstreamYaml(name: string, kind: 'stdio' | 'streamable-http' | 'sse', url?: string, extra = '', stdioArgs: string[] = []): string {
  if (kind === 'stdio') {
    const argv = JSON.stringify([...tsNode('test/fixtures/mock-upstream/stdio.ts'), ...stdioArgs]);
    // tsx must resolve from the repository, not from the gateway's temporary config directory.
    return `  - { name: ${name}, kind: stdio, command: ${JSON.stringify(process.execPath)}, args: ${argv}, cwd: ${JSON.stringify(repoPath())}, restart: { initialDelay: 20ms, maxDelay: 200ms }${extra} }`;
  }
  return `  - { name: ${name}, kind: ${kind}, url: ${JSON.stringify(url)}${extra} }`;
}

/** A complete gateway config with the given upstream entries, in-memory storage. */
export function gatewayYaml(upstreams: string[], more = ''): string {
  return ['gateway: { storage: memory }', 'log: { level: silent }', 'upstreams:', ...upstreams, more].join('\n');
}

export interface ClientOptions {
  capabilities?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** A connected legacy-era SDK client (v1) over Streamable HTTP. */
export async function legacyClient(url: string, o: ClientOptions = {}): Promise<V1Client> {
  const c = new V1Client({ name: 'e2e-legacy', version: '1.0.0' }, { capabilities: o.capabilities ?? {} });
  await c.connect(new V1Http(new URL(url), o.headers ? { requestInit: { headers: o.headers } } : {}));
  return c;
}

/** A connected legacy-era SDK client (v1) over the deprecated HTTP+SSE transport (`/sse`). */
export async function legacySseClient(url: string, o: ClientOptions = {}): Promise<V1Client> {
  const c = new V1Client({ name: 'e2e-legacy-sse', version: '1.0.0' }, { capabilities: o.capabilities ?? {} });
  await c.connect(new V1Sse(new URL(url), o.headers ? { requestInit: { headers: o.headers } } : {}));
  return c;
}

/** A connected modern-era SDK client (v2) pinned to 2026-07-28: no fallback to initialize. */
export async function modernClient(url: string, o: ClientOptions = {}): Promise<V2Client> {
  const c = new V2Client(
    { name: 'e2e-modern', version: '1.0.0' },
    { capabilities: o.capabilities ?? {}, versionNegotiation: { mode: { pin: MODERN } } },
  );
  await c.connect(new V2Http(new URL(url), o.headers ? { requestInit: { headers: o.headers } } : {}));
  return c;
}

/** The text of the first content item of a tool or prompt result. */
export function firstText(r: unknown): string {
  const o = r as { content?: { text?: string }[]; messages?: { content?: { text?: string } }[]; contents?: { text?: string }[] };
  return o.content?.[0]?.text ?? o.messages?.[0]?.content?.text ?? o.contents?.[0]?.text ?? '';
}

// ---------------------------------------------------------------------------------------------
// Raw legacy client over fetch

export interface RpcMsg {
  jsonrpc: '2.0';
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export interface PostReply {
  status: number;
  headers: Headers;
  /** Every JSON-RPC message on the reply (one for JSON, all events for SSE). */
  messages: RpcMsg[];
  /** True when the reply ended before `deadlineMs` (false: the reader gave up). */
  ended: boolean;
}

/** Parses complete SSE events out of `buf`; returns the data payloads and the unparsed rest. */
function takeSseEvents(buf: string): { data: string[]; rest: string } {
  const data: string[] = [];
  const normalised = buf.replace(/\r\n?/g, '\n');
  const blocks = normalised.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    const lines = block.split('\n').filter((l) => l.startsWith('data:'));
    if (lines.length === 0) continue;
    const payload = lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (payload !== '') data.push(payload);
  }
  return { data, rest };
}

/**
 * Reads a JSON or SSE reply to the end (or until `deadlineMs`), calling `onMessage` as each
 * message arrives, so a test can react mid-stream (e.g. cancel after the first progress).
 */
export async function readReply(res: Response, deadlineMs: number, onMessage?: (m: RpcMsg) => void): Promise<PostReply> {
  const ct = res.headers.get('content-type') ?? '';
  const out: PostReply = { status: res.status, headers: res.headers, messages: [], ended: true };
  if (!ct.includes('text/event-stream')) {
    const body = await res.text();
    if (body.trim() !== '') {
      const m = JSON.parse(body) as RpcMsg;
      out.messages.push(m);
      onMessage?.(m);
    }
    return out;
  }
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), deadlineMs);
  });
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === 'timeout') {
        out.ended = false;
        await reader.cancel().catch(() => undefined);
        break;
      }
      if (next.done) break;
      buf += dec.decode(next.value, { stream: true });
      const { data, rest } = takeSseEvents(buf);
      buf = rest;
      for (const d of data) {
        const m = JSON.parse(d) as RpcMsg;
        out.messages.push(m);
        onMessage?.(m);
      }
    }
  } catch {
    // A reset connection ends the reply: what arrived so far is the answer.
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** A legacy session driven by hand: exact ids, exact headers, every message visible. */
export class RawLegacySession {
  private constructor(
    readonly url: string,
    readonly sessionId: string,
    private readonly extraHeaders: Record<string, string>,
  ) {}

  static async open(url: string, extraHeaders: Record<string, string> = {}, capabilities: Record<string, unknown> = {}): Promise<RawLegacySession> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...extraHeaders },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY, capabilities, clientInfo: { name: 'raw', version: '1' } } }),
    });
    const sid = res.headers.get('mcp-session-id');
    await res.text();
    if (res.status !== 200 || !sid) throw new Error(`initialize failed: ${res.status}`);
    const s = new RawLegacySession(url, sid, extraHeaders);
    await s.notify('notifications/initialized');
    return s;
  }

  private headers(): Record<string, string> {
    return {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': LEGACY,
      ...this.extraHeaders,
      'mcp-session-id': this.sessionId,
    };
  }

  /** Sends a request and reads its whole reply. */
  async request(id: number | string, method: string, params: Record<string, unknown>, o: { deadlineMs?: number; onMessage?: (m: RpcMsg) => void } = {}): Promise<PostReply> {
    const res = await fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
    return readReply(res, o.deadlineMs ?? 20_000, o.onMessage);
  }

  async notify(method: string, params?: Record<string, unknown>): Promise<number> {
    const res = await fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}) }) });
    await res.text();
    return res.status;
  }

  /** Opens the session's GET stream; messages go to `onMessage` until `close()` is called. */
  async openGet(onMessage: (m: RpcMsg) => void): Promise<{ status: number; close: () => void }> {
    const ac = new AbortController();
    const res = await fetch(this.url, { method: 'GET', headers: { ...this.headers(), accept: 'text/event-stream' }, signal: ac.signal });
    if (res.status === 200) void readReply(res, 60_000, onMessage).catch(() => undefined);
    return { status: res.status, close: () => ac.abort() };
  }

  async close(): Promise<void> {
    await fetch(this.url, { method: 'DELETE', headers: this.headers() })
      .then((r) => r.text())
      .catch(() => undefined);
  }
}

/** Polls `cond` every 20 ms until true or `ms` elapses (then throws naming `what`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The JSON-RPC message of a one-message reply: the body itself, or the last `data:` line of an SSE stream. */
export function replyMessage(contentType: string | null, text: string): unknown {
  if (!contentType?.startsWith('text/event-stream')) return JSON.parse(text);
  const last = text
    .split('\n')
    .filter((l) => l.startsWith('data:') && l.length > 6)
    .pop();
  if (last === undefined) throw new Error(`no SSE data line in: ${text.slice(0, 200)}`);
  return JSON.parse(last.slice(5));
}
