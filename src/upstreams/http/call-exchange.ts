/**
 * The POST of one call to a Streamable HTTP upstream, on undici's dispatch API instead of its
 * `request()` API: a JSON answer (most calls) is collected into one bounded string without a
 * body stream, an abort signal or its listeners, which together were about a tenth of the
 * gateway's CPU per forwarded call (bench/RESULTS.md run 11). Any other answer (an SSE stream,
 * an error page) comes back as a readable body with backpressure, like `exchange()`'s.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { lengthOver, mediaTypeOfValue, messageTooLarge, type ExchangeRequest, type UpstreamResponse } from './exchange.js';

/** A call's answer: its whole text when it was JSON, else the response to read as a stream. */
export type CallAnswer =
  | { readonly statusCode: number; readonly headers: IncomingHttpHeaders; readonly text: string; readonly stream?: undefined }
  | { readonly statusCode: number; readonly headers: IncomingHttpHeaders; readonly text?: undefined; readonly stream: UpstreamResponse };

const STOPPED = new Error('call ended');

/** A raw header name or value as undici hands it over (bytes, or a string from its fast path). */
type RawHeader = Buffer | string;
const text = (v: RawHeader): string => (typeof v === 'string' ? v : v.toString('latin1'));

/** The response head as IncomingHttpHeaders (names lower-cased; repeated ones as arrays), built on demand. */
export function headersOf(raw: readonly RawHeader[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = text(raw[i] as RawHeader).toLowerCase();
    const value = text(raw[i + 1] as RawHeader);
    const seen = out[name];
    out[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out as IncomingHttpHeaders;
}

/** The value of the first header called `lower` (a lower-case name), without building the header object. */
function rawHeader(raw: readonly RawHeader[], lower: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i] as RawHeader;
    if (n.length === lower.length && text(n).toLowerCase() === lower) return text(raw[i + 1] as RawHeader);
  }
  return undefined;
}

/** A JSON answer; its headers are turned into an object only if someone reads them. */
class JsonAnswer {
  readonly stream = undefined;
  private parsed: IncomingHttpHeaders | undefined;

  constructor(
    readonly statusCode: number,
    private readonly raw: readonly RawHeader[],
    readonly text: string,
  ) {}

  get headers(): IncomingHttpHeaders {
    return (this.parsed ??= headersOf(this.raw));
  }
}

/**
 * undici's dispatch handler in its original callback form (onConnect, onHeaders, onData,
 * onComplete, onError), which undici calls as it is. A handler in the newer controller form is
 * wrapped per request, and the wrapper turns every response's raw headers into an object, which
 * a JSON answer never needs: it is decided on its Content-Type and Content-Length alone.
 */
class CallHandler {
  private abort: ((err?: Error) => void) | undefined;
  private stopped = false;
  private settled = false;
  private statusCode = 0;
  private raw: readonly RawHeader[] = [];
  private chunks: Buffer[] = [];
  private size = 0;
  private body: Readable | undefined;

  constructor(
    private readonly max: number,
    private readonly resolve: (a: CallAnswer) => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  /** Stops the request if it is still running (the call ended first); harmless afterwards. */
  stop(): void {
    if (this.settled && this.body === undefined) return;
    this.stopped = true;
    this.abort?.(STOPPED);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.stopped) abort(STOPPED);
  }

  onHeaders(statusCode: number, raw: RawHeader[], resume: () => void): boolean {
    this.statusCode = statusCode;
    this.raw = raw;
    if (mediaTypeOfValue(rawHeader(raw, 'content-type')) === 'application/json') {
      if (lengthOver(rawHeader(raw, 'content-length'), this.max)) this.abort?.(messageTooLarge(this.max));
      return true;
    }
    const headers = headersOf(raw);
    const body = new Readable({ read: () => resume() });
    body.on('close', () => {
      if (!body.readableEnded) this.abort?.(STOPPED);
    });
    this.body = body;
    this.settled = true;
    this.resolve({ statusCode, headers, stream: { statusCode, headers, body } });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.body !== undefined) return this.body.push(chunk);
    this.size += chunk.length;
    if (this.size > this.max) {
      this.abort?.(messageTooLarge(this.max));
      return true;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.body !== undefined) {
      this.body.push(null);
      this.body = undefined;
      return;
    }
    this.settled = true;
    const c = this.chunks;
    const answer = c.length === 1 ? (c[0] as Buffer).toString('utf8') : Buffer.concat(c).toString('utf8');
    this.chunks = [];
    this.resolve(new JsonAnswer(this.statusCode, this.raw, answer));
  }

  onError(err: Error): void {
    if (this.body !== undefined) {
      this.body.destroy(err);
      this.body = undefined;
      return;
    }
    this.settled = true;
    this.chunks = [];
    this.reject(err);
  }
}

/**
 * Sends one call's POST. `onStoppable` receives the function that stops it (for when the call
 * ends first). Rejects on network errors, timeouts, an oversized JSON answer and stops.
 */
export function exchangeCall(pool: Pool, r: ExchangeRequest, maxJsonBytes: number, onStoppable: (stop: () => void) => void): Promise<CallAnswer> {
  return new Promise<CallAnswer>((resolve, reject) => {
    const handler = new CallHandler(maxJsonBytes, resolve, reject);
    onStoppable(() => handler.stop());
    pool.dispatch(
      {
        origin: r.url.origin,
        path: r.url.pathname + r.url.search,
        method: r.method,
        headers: r.headers,
        body: r.body,
        headersTimeout: r.headersTimeoutMs,
        bodyTimeout: r.bodyTimeoutMs,
      },
      // The callback form is part of undici's Dispatcher.DispatchHandler type (deprecated there, kept in 7.x).
      handler as unknown as Dispatcher.DispatchHandler,
    );
  });
}
