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
import { declaresMoreThan, mediaTypeOf, messageTooLarge, type ExchangeRequest, type UpstreamResponse } from './exchange.js';

/** A call's answer: its whole text when it was JSON, else the response to read as a stream. */
export type CallAnswer =
  | { readonly statusCode: number; readonly headers: IncomingHttpHeaders; readonly text: string; readonly stream?: undefined }
  | { readonly statusCode: number; readonly headers: IncomingHttpHeaders; readonly text?: undefined; readonly stream: UpstreamResponse };

const STOPPED = new Error('call ended');

class CallHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private stopped = false;
  private settled = false;
  private statusCode = 0;
  private headers: IncomingHttpHeaders = {};
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
    this.controller?.abort(STOPPED);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stopped) controller.abort(STOPPED);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.statusCode = statusCode;
    this.headers = headers;
    if (mediaTypeOf(headers) === 'application/json') {
      if (declaresMoreThan(headers, this.max)) controller.abort(messageTooLarge(this.max));
      return;
    }
    const body = new Readable({ read: () => controller.resume() });
    body.on('close', () => {
      if (!body.readableEnded) controller.abort(STOPPED);
    });
    this.body = body;
    this.settled = true;
    this.resolve({ statusCode, headers, stream: { statusCode, headers, body } });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.body !== undefined) {
      if (!this.body.push(chunk)) controller.pause();
      return;
    }
    this.size += chunk.length;
    if (this.size > this.max) {
      controller.abort(messageTooLarge(this.max));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.body !== undefined) {
      this.body.push(null);
      this.body = undefined;
      return;
    }
    this.settled = true;
    const c = this.chunks;
    const text = c.length === 1 ? (c[0] as Buffer).toString('utf8') : Buffer.concat(c).toString('utf8');
    this.chunks = [];
    this.resolve({ statusCode: this.statusCode, headers: this.headers, text });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
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
      handler,
    );
  });
}
