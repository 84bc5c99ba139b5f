/**
 * Webhook sink: POSTs each batch as JSONL (the stored canonical lines) with
 * `X-Portcullis-Signature: sha256=<hex HMAC-SHA256(secret, body)>` and the batch's
 * (log, first seq, last seq) in headers. Any 2xx means delivered; anything else is retried.
 */
import { createHmac } from 'node:crypto';
import { request } from 'undici';
import type { Sink } from './sink.js';
import { jsonlBody } from './sink.js';
import type { SinkBatch } from './tail.js';

/** Settings of a webhook sink (the secret already resolved). */
export interface WebhookSinkOptions {
  name: string;
  url: string;
  secret: string | Buffer;
  headers?: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/** The signature header value for a body: `sha256=<hex>`. Receivers recompute and compare in constant time. */
export function webhookSignature(secret: string | Buffer, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** A webhook sink. */
export function webhookSink(o: WebhookSinkOptions): Sink {
  return {
    name: o.name,
    async deliver(batch: SinkBatch, signal: AbortSignal): Promise<void> {
      const body = jsonlBody(batch);
      const res = await request(o.url, {
        method: 'POST',
        body,
        signal,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
        headers: {
          ...o.headers,
          'content-type': 'application/x-ndjson',
          'x-portcullis-log': batch.log,
          'x-portcullis-first-seq': String(batch.first_seq),
          'x-portcullis-last-seq': String(batch.last_seq),
          'x-portcullis-signature': webhookSignature(o.secret, body),
        },
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`webhook answered ${res.statusCode}`);
    },
    async close(): Promise<void> {},
  };
}
