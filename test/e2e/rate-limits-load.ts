/**
 * Shared by the rate-limit suites: one modern tools/call over fetch, and a paced load driver
 * that offers calls at a fixed rate (bounded in count and in concurrency) and counts answers.
 */
import { MODERN, replyMessage } from './helpers-wire.js';

const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };

export interface CallReply {
  status: number;
  retryAfter: string | null;
  body: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: { retryAfterMs?: number; portcullis?: string; rule?: string } } };
}

/** One modern (2026-07-28) tools/call: one POST, one call. */
export async function modernCall(mcpUrl: string, tool: string, args: Record<string, unknown> = { text: 'hi' }, headers: Record<string, string> = {}): Promise<CallReply> {
  const res = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': tool, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: args, _meta: META } }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  const json = replyMessage(res.headers.get('content-type'), text);
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: json as CallReply['body'] };
}

export interface LoadResult {
  sent: number;
  accepted: number;
  refused: number;
  /** Anything but a result or a 429 (should stay 0). */
  other: string[];
  /** From the first send to the last. */
  elapsedMs: number;
}

/**
 * Offers `perSecond` calls per second for `seconds`, round-robin over `urls`. At most `maxInFlight`
 * calls are outstanding; the schedule is fixed, so a slow reply delays nothing but itself.
 */
export async function drive(urls: readonly string[], o: { perSecond: number; seconds: number; tool: string; headers?: Record<string, string>; maxInFlight?: number }): Promise<LoadResult> {
  const total = Math.round(o.perSecond * o.seconds);
  const interval = 1000 / o.perSecond;
  const maxInFlight = o.maxInFlight ?? 128;
  const out: LoadResult = { sent: 0, accepted: 0, refused: 0, other: [], elapsedMs: 0 };
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  let first = 0;
  let last = 0;
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const now = performance.now();
    if (i === 0) first = now;
    last = now;
    const p: Promise<void> = modernCall(urls[i % urls.length]!, o.tool, { text: `n${i}` }, o.headers ?? {})
      .then((r) => {
        if (r.status === 200 && r.body.result) out.accepted++;
        else if (r.status === 429) out.refused++;
        else out.other.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      })
      .catch((e: unknown) => void out.other.push(String(e)))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    out.sent++;
  }
  await Promise.all(inFlight);
  out.elapsedMs = last - first;
  return out;
}
