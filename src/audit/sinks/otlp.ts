/**
 * OTLP logs sink: POSTs each batch as an OTLP/HTTP JSON `ExportLogsServiceRequest` (e.g. to an
 * OpenTelemetry Collector's `/v1/logs`). Each record is one LogRecord whose body is the stored
 * canonical line, with `portcullis.audit.log` and `portcullis.audit.seq` attributes for dedupe.
 * A 2xx without rejected records means delivered; a partial success is retried whole.
 */
import { request } from 'undici';
import type { StoredRecord } from '../export/segments.js';
import type { Sink } from './sink.js';
import type { SinkBatch } from './tail.js';

/** Settings of an OTLP sink (the authorization value already resolved). */
export interface OtlpSinkOptions {
  name: string;
  url: string;
  headers?: Readonly<Record<string, string>>;
  authorization?: string;
  timeoutMs: number;
  productVersion: string;
}

const str = (key: string, v: string) => ({ key, value: { stringValue: v } });

// OTLP SeverityNumber: 9 INFO, 13 WARN, 17 ERROR.
function severity(r: StoredRecord): { severityNumber: number; severityText: string } {
  const result = (r.record.decision as { result?: unknown } | undefined)?.result;
  if (r.type === 'audit.gap') return { severityNumber: 17, severityText: 'ERROR' };
  if (result === 'deny' || r.type === 'authn.failure' || r.type.startsWith('detect.') || r.type === 'ratelimit.exceeded') return { severityNumber: 13, severityText: 'WARN' };
  return { severityNumber: 9, severityText: 'INFO' };
}

/** The OTLP/JSON request body for a batch. */
export function otlpBody(batch: SinkBatch, productVersion: string): string {
  const now = `${BigInt(Date.now()) * 1_000_000n}`;
  const logRecords = batch.records.map((r) => {
    const ms = Date.parse(r.ts);
    return {
      ...(Number.isFinite(ms) ? { timeUnixNano: `${BigInt(ms) * 1_000_000n}` } : {}),
      observedTimeUnixNano: now,
      ...severity(r),
      eventName: r.type,
      body: { stringValue: r.line },
      attributes: [str('portcullis.audit.log', r.log), { key: 'portcullis.audit.seq', value: { intValue: String(r.seq) } }, str('event.name', r.type)],
    };
  });
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [str('service.name', 'portcullis'), str('service.version', productVersion)] },
        scopeLogs: [{ scope: { name: 'portcullis.audit', version: productVersion }, logRecords }],
      },
    ],
  });
}

/** An OTLP/HTTP JSON logs sink. */
export function otlpSink(o: OtlpSinkOptions): Sink {
  return {
    name: o.name,
    async deliver(batch: SinkBatch, signal: AbortSignal): Promise<void> {
      const res = await request(o.url, {
        method: 'POST',
        body: otlpBody(batch, o.productVersion),
        signal,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
        headers: { ...o.headers, ...(o.authorization ? { authorization: o.authorization } : {}), 'content-type': 'application/json' },
      });
      const text = await res.body.text();
      if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`OTLP endpoint answered ${res.statusCode}`);
      let rejected = 0;
      try {
        rejected = Number((JSON.parse(text || '{}') as { partialSuccess?: { rejectedLogRecords?: unknown } }).partialSuccess?.rejectedLogRecords ?? 0);
      } catch {
        // A 2xx with a non-JSON body is a success by the OTLP/HTTP spec.
      }
      if (rejected > 0) throw new Error(`OTLP endpoint rejected ${rejected} log records`);
    },
    async close(): Promise<void> {},
  };
}
