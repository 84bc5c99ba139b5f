/**
 * `audit.sinks`: remote destinations fed from the local log (the local log is the spool).
 * Delivery is at least once; consumers deduplicate on (log, seq). There is deliberately no
 * "drop" option: past the high-water mark the gateway fails closed (docs/audit.md "Remote sinks").
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { Duration, TimerDuration } from '../../config/primitives.js';
import { parseDuration } from '../../config/units.js';
import { SecretRef } from '../../auth/secrets/ref.js';

/** "1gb", "512mb", "64kb", "100b", or a plain number of bytes (binary multiples). */
const SpoolSize = z
  .union([z.number().int().positive(), z.string().regex(/^\d{1,9}(b|kb|mb|gb)$/i, 'size like 512mb or 1gb').refine((x) => !/^0+[a-z]+$/i.test(x), 'must be more than 0 bytes')])
  .describe('A size: bytes as a number, or a string such as "512mb", "1gb".');

const UNITS = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;

/** Bytes of a SpoolSize value. */
export function parseSpoolSize(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^(\d{1,9})(b|kb|mb|gb)$/i.exec(v.trim());
  if (!m) throw new RangeError(`invalid size: ${JSON.stringify(v)}`);
  return Number(m[1]) * UNITS[m[2]!.toLowerCase() as keyof typeof UNITS];
}

const Common = {
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,32}$/).describe('Unique sink name: used for its cursor file (`logs/<log>/sinks/<name>.cursor`), logs and metrics.'),
  tenants: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/))
    .max(1000)
    .optional()
    .describe('Only these tenants\' logs; default: every tenant log.'),
  system: z.boolean().default(true).describe('Also deliver the system log (admin and config events).'),
  batch: z
    .object({
      records: z.number().int().min(1).max(10_000).default(500).describe('At most this many records per delivery.'),
      bytes: SpoolSize.default('1mb').describe('At most this many bytes of records per delivery (one oversized record still goes alone).'),
    })
    .strict()
    .prefault({})
    .describe('Batch size limits.'),
  poll: TimerDuration.default('250ms').describe('How often a caught-up sink looks for new records.'),
  timeout: TimerDuration.default('10s').describe('Deadline of one delivery attempt; past it the attempt counts as failed and is retried.'),
  retry: z
    .object({
      initial: TimerDuration.default('500ms').describe('First retry delay; doubles per failed attempt, with jitter.'),
      max: TimerDuration.default('30s').describe('Longest retry delay.'),
    })
    .strict()
    .prefault({})
    .describe('Retry with exponential backoff and jitter; a batch is retried until delivered, never dropped.'),
  highWater: z
    .object({
      bytes: SpoolSize.default('1gb').describe('Undelivered bytes past which the gateway fails closed.'),
      age: Duration.default('15m').describe('Age of the oldest undelivered record past which the gateway fails closed.'),
    })
    .strict()
    .prefault({})
    .describe('High-water mark of the spool (the local log). Past it, side-effecting calls get 503 until the sink catches up.'),
  onSinkFailure: z
    .enum(['spool', 'fail_closed'])
    .default('spool')
    .describe('`spool`: keep serving and deliver later from the local log; `fail_closed`: refuse side-effecting calls while deliveries to this sink fail.'),
  onSpoolFull: z.literal('fail_closed').default('fail_closed').describe('What happens past the high-water mark. Only `fail_closed`: there is no drop option.'),
};

const WebhookSink = z
  .object({
    kind: z.literal('webhook').describe('HTTP POST of JSONL batches (the stored canonical lines), signed with HMAC-SHA256 over the body.'),
    ...Common,
    url: z.string().url().describe('Endpoint receiving the batches; any 2xx answer means delivered.'),
    secret: SecretRef.describe('HMAC-SHA256 key for the `X-Portcullis-Signature: sha256=<hex>` header over the raw body.'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(1024)).default({}).describe('Static headers sent with each POST.'),
  })
  .strict();

const SyslogSink = z
  .object({
    kind: z.literal('syslog').describe('RFC 5424 messages over TCP with octet-counting framing (RFC 6587), optionally TLS (RFC 5425).'),
    ...Common,
    host: z.string().min(1).max(253).describe('Syslog receiver host.'),
    port: z.number().int().min(1).max(65535).describe('Syslog receiver port (6514 is the TLS default).'),
    format: z.enum(['jsonl', 'cef']).default('jsonl').describe('MSG part: the stored canonical JSON line, or its CEF view.'),
    facility: z.number().int().min(0).max(23).default(13).describe('Syslog facility (13 = log audit).'),
    tls: z
      .object({
        ca: z.string().min(1).optional().describe('PEM file of the CA(s) to trust; relative to the config file. Default: the system store.'),
        servername: z.string().max(253).optional().describe('TLS server name (SNI and certificate check); default: host.'),
      })
      .strict()
      .optional()
      .describe('Use TLS; the server certificate is always verified.'),
  })
  .strict();

const FileSink = z
  .object({
    kind: z.literal('file').describe('Appends the stored JSONL lines to another file (fdatasync per batch).'),
    ...Common,
    path: z.string().min(1).describe('File to append to (created 0600); relative to the config file.'),
  })
  .strict();

const OtlpSink = z
  .object({
    kind: z.literal('otlp').describe('OTLP/HTTP JSON logs (e.g. an OpenTelemetry Collector): one LogRecord per record, body = the stored line.'),
    ...Common,
    url: z.string().url().describe('The full logs endpoint, e.g. `http://collector:4318/v1/logs`.'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(1024)).default({}).describe('Static headers sent with each export (no secrets: use `authorization`).'),
    authorization: SecretRef.optional().describe('Value of the `Authorization` header (e.g. "Bearer …"), from a secret reference.'),
  })
  .strict();

/** One remote sink. */
export const AuditSinkConfig = z.discriminatedUnion('kind', [WebhookSink, SyslogSink, FileSink, OtlpSink]);
export type AuditSinkConfigInput = z.infer<typeof AuditSinkConfig>;

/** The `audit.sinks` list. */
export const AuditSinksConfig = z
  .array(AuditSinkConfig)
  .max(16)
  .default([])
  .refine((l) => new Set(l.map((s) => s.name)).size === l.length, 'sink names must be unique')
  .describe('Remote sinks fed from the local audit log (at least once; dedupe on (log, seq)).');

/** Settings every compiled sink has. */
export interface CompiledSinkCommon {
  name: string;
  tenants?: readonly string[];
  system: boolean;
  batch: { records: number; bytes: number };
  pollMs: number;
  timeoutMs: number;
  retry: { initialMs: number; maxMs: number };
  highWater: { bytes: number; ageMs: number };
  onSinkFailure: 'spool' | 'fail_closed';
}

/** A sink with units parsed and paths absolute. */
export type CompiledSink = CompiledSinkCommon &
  (
    | { kind: 'webhook'; url: string; secret: SecretRef; headers: Readonly<Record<string, string>> }
    | { kind: 'syslog'; host: string; port: number; format: 'jsonl' | 'cef'; facility: number; tls?: { ca?: string; servername?: string } }
    | { kind: 'file'; path: string }
    | { kind: 'otlp'; url: string; headers: Readonly<Record<string, string>>; authorization?: SecretRef }
  );

/** Compiles `audit.sinks`. */
export function compileSinks(list: readonly AuditSinkConfigInput[], configDir: string): CompiledSink[] {
  return list.map((s) => {
    const common: CompiledSinkCommon = {
      name: s.name,
      ...(s.tenants ? { tenants: [...s.tenants] } : {}),
      system: s.system,
      batch: { records: s.batch.records, bytes: parseSpoolSize(s.batch.bytes) },
      pollMs: Math.max(10, parseDuration(s.poll)),
      timeoutMs: Math.max(1, parseDuration(s.timeout)),
      retry: { initialMs: Math.max(1, parseDuration(s.retry.initial)), maxMs: Math.max(1, parseDuration(s.retry.max)) },
      highWater: { bytes: parseSpoolSize(s.highWater.bytes), ageMs: Math.max(1, parseDuration(s.highWater.age)) },
      onSinkFailure: s.onSinkFailure,
    };
    switch (s.kind) {
      case 'webhook':
        return { ...common, kind: 'webhook', url: s.url, secret: s.secret, headers: { ...s.headers } };
      case 'syslog':
        return {
          ...common,
          kind: 'syslog',
          host: s.host,
          port: s.port,
          format: s.format,
          facility: s.facility,
          ...(s.tls ? { tls: { ...(s.tls.ca ? { ca: resolve(configDir, s.tls.ca) } : {}), ...(s.tls.servername ? { servername: s.tls.servername } : {}) } } : {}),
        };
      case 'file':
        return { ...common, kind: 'file', path: resolve(configDir, s.path) };
      case 'otlp':
        return { ...common, kind: 'otlp', url: s.url, headers: { ...s.headers }, ...(s.authorization ? { authorization: s.authorization } : {}) };
    }
  });
}
