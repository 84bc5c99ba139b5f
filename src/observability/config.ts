/**
 * The `observability` config section: Prometheus metrics and OpenTelemetry traces. Both are
 * read when the gateway starts (a listener and an exporter are process resources); a hot reload
 * that changes this section takes effect on the next restart.
 */
import { z } from 'zod';

/** `host:port`, IPv6 hosts in brackets. */
const ListenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]{2,45}\]|[a-zA-Z0-9.-]{1,253}):[0-9]{1,5}$/, 'host:port, e.g. 127.0.0.1:9464')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port out of range');

export const MetricsConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Collect Prometheus metrics and serve them (see `listen`). Costs about a microsecond per call.'),
    listen: ListenAddress.optional().describe(
      'Serve `/metrics` on its own listener at this host:port, without authentication (bind it to loopback or a scrape-only network). Omitted: `/metrics` is served on the main listener, where it needs credentials like every non-public route and, when `auth` is configured, a principal holding one of `auth.adminRoles` (metrics name every tenant).',
    ),
    maxTenants: z.number().int().min(1).max(10000).default(100).describe('Distinct tenant label values kept; further tenants are counted under `_other` (bounded label cardinality).'),
  })
  .strict();

export const TracingConfig = z
  .object({
    otlpEndpoint: z
      .string()
      .url()
      .regex(/^https?:\/\//, 'http:// or https://')
      .optional()
      .describe('OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. Omitted: tracing is off (and costs nothing).'),
    serviceName: z.string().min(1).max(128).default('portcullis').describe('The `service.name` resource attribute of every span.'),
    sampleRatio: z.number().min(0).max(1).default(1).describe('Fraction of new traces sampled (0..1); a sampled incoming `traceparent` is always followed.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra headers sent to the OTLP endpoint (values may use ${ENV}, e.g. a collector API key).'),
  })
  .strict();

export const ObservabilityConfig = z
  .object({
    metrics: MetricsConfig.prefault({}).describe('Prometheus metrics (prom-client, a registry of its own).'),
    tracing: TracingConfig.prefault({}).describe('OpenTelemetry traces over OTLP/HTTP (JSON): a span per call, child spans per pipeline stage and upstream hop.'),
  })
  .strict()
  .prefault({})
  .describe('Metrics and traces. Read at start; changes need a restart.');

export type ObservabilityConfigT = z.infer<typeof ObservabilityConfig>;

/** The compiled section, as the Snapshot carries it. */
export interface CompiledObservability {
  metrics: { enabled: boolean; listen?: { host: string; port: number }; maxTenants: number };
  tracing?: { otlpEndpoint: string; serviceName: string; sampleRatio: number; headers: Readonly<Record<string, string>> };
}

/** Compiles the section: splits the listen address, drops tracing when no endpoint is set. */
export function compileObservability(c: ObservabilityConfigT): CompiledObservability {
  const m = c.metrics;
  let listen: { host: string; port: number } | undefined;
  if (m.listen !== undefined) {
    const i = m.listen.lastIndexOf(':');
    const host = m.listen.slice(0, i).replace(/^\[|\]$/g, '');
    listen = { host, port: Number(m.listen.slice(i + 1)) };
  }
  const t = c.tracing;
  return {
    metrics: { enabled: m.enabled, ...(listen ? { listen } : {}), maxTenants: m.maxTenants },
    ...(t.otlpEndpoint !== undefined ? { tracing: { otlpEndpoint: t.otlpEndpoint, serviceName: t.serviceName, sampleRatio: t.sampleRatio, headers: t.headers } } : {}),
  };
}
