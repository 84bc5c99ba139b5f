/**
 * Syslog sink: one RFC 5424 message per record over TCP, framed by octet counting (RFC 6587
 * §3.4.1: `<length> <message>`), optionally over TLS (RFC 5425). The structured data element
 * `[portcullis@32473 log="…" seq="…"]` carries the dedupe key (32473 is the documentation PEN of
 * RFC 5612). TCP has no application acknowledgement: "delivered" means the kernel accepted the
 * bytes; a connection error re-sends the batch from the cursor, so delivery stays at least once.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { StoredRecord } from '../export/segments.js';
import { toCef } from '../export/cef.js';
import type { Sink } from './sink.js';
import type { SinkBatch } from './tail.js';

/** Settings of a syslog sink. */
export interface SyslogSinkOptions {
  name: string;
  host: string;
  port: number;
  format: 'jsonl' | 'cef';
  facility: number;
  tls?: { ca?: string; servername?: string };
  timeoutMs: number;
  productVersion: string;
}

// RFC 5424 header fields are PRINTUSASCII (33–126) with fixed maximum lengths.
const printable = (s: string, max: number): string => s.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-';
// SD-PARAM values escape '"', '\' and ']' (RFC 5424 §6.3.3).
const sdValue = (s: string): string => s.replace(/[\\"\]]/g, (c) => `\\${c}`);

/** Syslog severity of a record: warning for denials and failures, notice for changes, else info. */
function severityOf(r: StoredRecord): number {
  const result = (r.record.decision as { result?: unknown } | undefined)?.result;
  if (r.type === 'audit.gap') return 2;
  if (result === 'deny' || r.type === 'authn.failure' || r.type.startsWith('detect.') || r.type === 'ratelimit.exceeded') return 4;
  if (r.type.startsWith('admin.') || r.type.endsWith('.changed')) return 5;
  return 6;
}

/** One record as an RFC 5424 message (without framing). */
export function syslogMessage(r: StoredRecord, o: { facility: number; format: 'jsonl' | 'cef'; host: string; productVersion: string }): string {
  const pri = o.facility * 8 + severityOf(r);
  const ts = Number.isFinite(Date.parse(r.ts)) ? r.ts : '-';
  const sd = `[portcullis@32473 log="${sdValue(r.log)}" seq="${r.seq}"]`;
  const msg = o.format === 'cef' ? toCef(r, o.productVersion) : r.line;
  return `<${pri}>1 ${printable(ts, 64)} ${printable(o.host, 255)} portcullis ${process.pid} ${printable(r.type, 32)} ${sd} ${msg}`;
}

/** One octet-counted frame. */
export function frame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

/** A syslog sink holding one connection, reopened after any error. */
export function syslogSink(o: SyslogSinkOptions): Sink {
  const host = hostname();
  const ca = o.tls?.ca ? readFileSync(o.tls.ca) : undefined;
  let socket: Socket | undefined;

  function drop(): void {
    socket?.destroy();
    socket = undefined;
  }

  function connect(signal: AbortSignal): Promise<Socket> {
    if (socket && !socket.destroyed && socket.writable) return Promise.resolve(socket);
    drop();
    return new Promise((resolve, reject) => {
      const s = o.tls
        ? tlsConnect({ host: o.host, port: o.port, servername: o.tls.servername ?? o.host, ...(ca ? { ca } : {}), rejectUnauthorized: true })
        : netConnect({ host: o.host, port: o.port });
      const timer = setTimeout(() => fail(new Error('syslog connect timed out')), o.timeoutMs);
      const onAbort = (): void => fail(new Error('aborted'));
      function fail(e: Error): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        s.destroy();
        reject(e);
      }
      signal.addEventListener('abort', onAbort, { once: true });
      s.once('error', fail);
      s.once(o.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        s.off('error', fail);
        s.setNoDelay(true);
        // Errors after connect surface on the next write; the receiver never talks back.
        s.on('error', () => {
          if (socket === s) socket = undefined;
        });
        s.on('close', () => {
          if (socket === s) socket = undefined;
        });
        s.on('data', () => {});
        socket = s;
        resolve(s);
      });
    });
  }

  return {
    name: o.name,
    async deliver(batch: SinkBatch, signal: AbortSignal): Promise<void> {
      const s = await connect(signal);
      const payload = Buffer.concat(batch.records.map((r) => frame(syslogMessage(r, { ...o, host }))));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          drop();
          reject(new Error('syslog write timed out'));
        }, o.timeoutMs);
        s.write(payload, (err) => {
          clearTimeout(timer);
          if (err) {
            drop();
            reject(err);
          } else resolve();
        });
      });
    },
    async close(): Promise<void> {
      const s = socket;
      socket = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.end(() => resolve());
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000).unref();
      });
    },
  };
}
