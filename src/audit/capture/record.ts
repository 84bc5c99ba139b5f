/**
 * One capture entry (docs/audit.md "Payload capture"): who called what through which endpoint,
 * the redacted arguments (or params) and the redacted result or error, the redaction findings
 * (rule, JSON-pointer path and count: never the matched text), truncation flags and duration.
 * Every payload passes through src/redaction before it is measured, cut or serialised.
 */
import { redactValue, type RedactionFinding } from '../../redaction/index.js';
import { bound } from '../records.js';

/** What the pipeline hands over for one call (references; nothing is copied on the call path). */
export interface CaptureJob {
  /** When the call ended (ms since the epoch). */
  ts: number;
  call: string;
  trace: string | undefined;
  tenant: string;
  subject: string;
  endpoint: string;
  method: string;
  /** Exposed tool or prompt name (absent for resources and resource completions). */
  name: string | undefined;
  upstream: string;
  /** `arguments` for tools/call and prompts/get; `params` (without `_meta`) otherwise. */
  inputKind: 'arguments' | 'params';
  input: unknown;
  /** The result, or the JSON-RPC error object. */
  outputKind: 'result' | 'error';
  output: unknown;
  ms: number;
}

/** Findings kept per entry; the rest are counted in `findings_dropped`. */
export const MAX_ENTRY_FINDINGS = 64;

interface Part {
  value: unknown;
  bytes: number;
  truncated: boolean;
  findings: RedactionFinding[];
}

/** Redacts, then measures the JSON text; past `max` bytes the value becomes its first `max` bytes as text. */
function part(v: unknown, max: number): Part {
  // Strings past max characters cannot fit anyway: the redactor scans no further than that (bounded work).
  const r = redactValue(v, { secrets: true, pii: true, maxStringChars: max + 1 });
  let text: string;
  try {
    text = JSON.stringify(r.value) ?? 'null';
  } catch {
    text = JSON.stringify('[unserialisable]');
  }
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= max) return { value: r.value === undefined ? null : r.value, bytes: buf.length, truncated: false, findings: r.findings };
  // Cut on a character boundary (never inside a UTF-8 sequence): at most `max` bytes, no U+FFFD.
  let end = max;
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return { value: buf.subarray(0, end).toString('utf8'), bytes: buf.length, truncated: true, findings: r.findings };
}

/** The entry as one JSON line ('\n'-terminated). Never throws on JSON input. */
export function captureLine(job: CaptureJob, maxPayloadBytes: number): string {
  const input = part(job.input, maxPayloadBytes);
  const output = part(job.output, maxPayloadBytes);
  const findings: Record<string, unknown>[] = [];
  let dropped = 0;
  for (const [where, p] of [[job.inputKind, input], [job.outputKind, output]] as const) {
    for (const f of p.findings) {
      if (findings.length >= MAX_ENTRY_FINDINGS) dropped += 1;
      else findings.push({ in: where, kind: f.kind, rule: f.rule, path: f.path, count: f.count });
    }
  }
  const entry: Record<string, unknown> = {
    v: 1,
    ts: new Date(job.ts).toISOString(),
    call: job.call,
    ...(job.trace !== undefined ? { trace: job.trace } : {}),
    tenant: bound(job.tenant),
    sub: bound(job.subject),
    endpoint: job.endpoint,
    method: job.method,
    target: { ...(job.name !== undefined ? { name: bound(job.name) } : {}), upstream: job.upstream },
    [job.inputKind]: input.value,
    [job.outputKind]: output.value,
    findings,
    ...(dropped > 0 ? { findings_dropped: dropped } : {}),
    truncated: { [job.inputKind]: input.truncated, [job.outputKind]: output.truncated },
    bytes: { [job.inputKind]: input.bytes, [job.outputKind]: output.bytes },
    ms: job.ms,
  };
  return `${JSON.stringify(entry)}\n`;
}
