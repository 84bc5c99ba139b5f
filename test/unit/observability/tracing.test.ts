/**
 * W3C trace context handling and the observability config section.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { parentFrom } from '../../../src/observability/tracing.js';
import { compileObservability, ObservabilityConfig } from '../../../src/observability/config.js';

test('a valid traceparent becomes a remote parent; invalid ones start a new trace', () => {
  const tid = '4bf92f3577b34da6a3ce929d0e0e4736';
  const sid = '00f067aa0ba902b7';
  const sc = trace.getSpanContext(parentFrom(`00-${tid}-${sid}-01`));
  assert.deepEqual(sc, { traceId: tid, spanId: sid, traceFlags: 1, isRemote: true });
  assert.equal(trace.getSpanContext(parentFrom(`00-${tid}-${sid}-00`))?.traceFlags, 0);
  for (const bad of [undefined, '', `ff-${tid}-${sid}-01`, `00-${'0'.repeat(32)}-${sid}-01`, `00-${tid}-${'0'.repeat(16)}-01`, `00-${tid.toUpperCase()}-${sid}-01`, `00-${tid}-${sid}`]) {
    assert.equal(trace.getSpanContext(parentFrom(bad)), undefined, String(bad));
  }
});

test('config: defaults, listen address split, tracing only with an endpoint', () => {
  assert.deepEqual(compileObservability(ObservabilityConfig.parse(undefined)), { metrics: { enabled: true, maxTenants: 100 } });
  const c = compileObservability(
    ObservabilityConfig.parse({ metrics: { listen: '[::1]:9464', maxTenants: 5 }, tracing: { otlpEndpoint: 'http://127.0.0.1:4318/v1/traces', sampleRatio: 0.5 } }),
  );
  assert.deepEqual(c, {
    metrics: { enabled: true, listen: { host: '::1', port: 9464 }, maxTenants: 5 },
    tracing: { otlpEndpoint: 'http://127.0.0.1:4318/v1/traces', serviceName: 'portcullis', sampleRatio: 0.5, headers: {} },
  });
  for (const bad of [{ metrics: { listen: '9464' } }, { metrics: { listen: 'h:99999' } }, { tracing: { otlpEndpoint: 'ftp://x/y' } }, { tracing: { sampleRatio: 2 } }, { metrics: { extra: 1 } }]) {
    assert.equal(ObservabilityConfig.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
