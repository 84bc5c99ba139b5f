/**
 * Cost of redactValue on a typical ~1 KB tool result (MCP `tools/call` result with text content
 * and structured content: ids, timestamps, counts, URLs, prose), with no secrets and with a few
 * (an e-mail, a GitHub token, an IPv4 address, a phone number, a password field). Also a 1 KB
 * string of prose alone, and the same result with PII rules off.
 * Run: node --import tsx bench/redaction-cost.ts
 */
import { redactValue, type RedactOptions } from '../src/redaction/index.js';

const N = 20_000;

const prose =
  'The deployment finished in 42 s. 3 of 17 services were restarted after the config change; ' +
  'the rest kept their connections. Latency p50 was 12.5 ms and p99 88 ms over the last 24 hours. ' +
  'See the run log for details, and the dashboard for the error budget (99.9% target, 0.02% used).';

function toolResult(withSecrets: boolean): unknown {
  return {
    content: [
      { type: 'text', text: prose + (withSecrets ? ' Contact ops at oncall@example.org or +1 415 555 0132.' : ' Contact the ops channel for questions.') },
    ],
    structuredContent: {
      run: { id: 'run_8f14e45fceea167a', startedAt: '2026-11-24T03:12:45.123Z', finishedAt: '2026-11-24T03:13:27.004Z', status: 'succeeded' },
      services: [
        { name: 'api-gateway', version: '4.12.1', replicas: 3, restarted: true, url: 'https://api.internal.example/v1/health' },
        { name: 'billing', version: '2.0.7', replicas: 2, restarted: false, url: 'https://billing.internal.example/healthz' },
        { name: 'search', version: '1.33.0', replicas: 5, restarted: true, url: 'https://search.internal.example/status' },
      ],
      host: withSecrets ? '10.20.30.40' : 'worker-7.eu-west-1',
      env: withSecrets ? { GITHUB_TOKEN: 'ghp_' + 'a1B2c3D4'.repeat(4) + 'e5F6', password: 'hunter2' } : { REGION: 'eu-west-1', TIER: 'standard' },
      metrics: { requests: 1849221, errors: 371, cpuSeconds: 5123.75, memoryMiB: 2048 },
    },
    isError: false,
  };
}

function bench(label: string, value: unknown, opts?: RedactOptions): void {
  const bytes = JSON.stringify(value).length;
  let findings = 0;
  for (let i = 0; i < 2_000; i++) findings = redactValue(value, opts).findings.length; // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) redactValue(value, opts);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  console.log(`${label.padEnd(36)} ${String(bytes).padStart(5)} B  ${us.toFixed(2).padStart(7)} µs/redactValue  (${findings} findings)`);
}

bench('1 KB tool result, no secrets', toolResult(false));
bench('1 KB tool result, a few secrets/PII', toolResult(true));
bench('1 KB tool result, no secrets, pii off', toolResult(false), { pii: false });
bench('1 KB prose string', prose.repeat(3).slice(0, 1024));
