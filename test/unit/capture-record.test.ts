/**
 * Capture entries (docs/audit.md "Payload capture"): arguments and results pass through the
 * redaction library before they are measured or cut, findings name rule, path and count but
 * never the matched text, and a payload past maxPayloadBytes is cut (well-formed) and flagged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { captureLine, MAX_ENTRY_FINDINGS, type CaptureJob } from '../../src/audit/capture/record.js';

// Test values shaped like the real things; neither is a real credential or person.
const TOKEN = `ghp_${'A1b2C3d4E5'.repeat(3)}x9Y8z7`;
const EMAIL = 'jane.roe@example.com';

function job(over: Partial<CaptureJob> = {}): CaptureJob {
  return {
    ts: Date.parse('2026-11-24T10:00:00Z'),
    call: 'c-1',
    trace: '0af7651916cd43dd8448eb211c80319c',
    tenant: 'acme',
    subject: 'alice',
    endpoint: 'cap',
    method: 'tools/call',
    name: 'mock__echo',
    upstream: 'mock',
    inputKind: 'arguments',
    input: { text: `use ${TOKEN} and mail ${EMAIL}` },
    outputKind: 'result',
    output: { content: [{ type: 'text', text: `echo: ${TOKEN} ${EMAIL}` }] },
    ms: 1.25,
    ...over,
  };
}

interface Entry {
  v: number;
  ts: string;
  call: string;
  trace?: string;
  tenant: string;
  sub: string;
  endpoint: string;
  method: string;
  target: Record<string, string>;
  arguments?: unknown;
  params?: { uri?: string };
  result?: unknown;
  error?: { code: number; message: string; data: Record<string, string> };
  findings: { in: string; kind: string; rule: string; path: string; count: number }[];
  findings_dropped?: number;
  truncated: Record<string, boolean>;
  bytes: Record<string, number>;
  ms: number;
}
const parse = (line: string): Entry => JSON.parse(line) as Entry;
const textOf = (v: unknown): string | undefined => (v as { text?: string } | undefined)?.text;
const firstText = (v: unknown): string | undefined => (v as { content?: { text?: string }[] } | undefined)?.content?.[0]?.text;

describe('capture entry', () => {
  it('is one JSON line with markers in place of the token and the email, and findings without the matched text', () => {
    const line = captureLine(job(), 16 * 1024);
    assert.ok(line.endsWith('\n'));
    assert.equal(line.indexOf('\n'), line.length - 1, 'exactly one line');
    assert.ok(!line.includes(TOKEN) && !line.includes(EMAIL));
    assert.ok(!line.includes('ghp_'), 'not even the token prefix survives');
    const e = parse(line);
    assert.equal(e.v, 1);
    assert.equal(e.ts, '2026-11-24T10:00:00.000Z');
    assert.equal(e.call, 'c-1');
    assert.equal(e.trace, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(e.tenant, 'acme');
    assert.equal(e.sub, 'alice');
    assert.equal(e.endpoint, 'cap');
    assert.equal(e.method, 'tools/call');
    assert.deepEqual(e.target, { name: 'mock__echo', upstream: 'mock' });
    assert.equal(textOf(e.arguments), 'use [REDACTED:github-token] and mail [REDACTED:email]');
    assert.equal(firstText(e.result), 'echo: [REDACTED:github-token] [REDACTED:email]');
    assert.deepEqual(e.truncated, { arguments: false, result: false });
    assert.equal(e.ms, 1.25);
    const rules = e.findings.map((f) => `${f.in}:${f.kind}:${f.rule}:${f.path}:${f.count}`).sort();
    assert.deepEqual(rules, [
      'arguments:pii:email:/text:1',
      'arguments:secret:github-token:/text:1',
      'result:pii:email:/content/0/text:1',
      'result:secret:github-token:/content/0/text:1',
    ]);
    assert.equal(e.bytes.arguments, Buffer.byteLength(JSON.stringify(e.arguments)));
  });

  it('an error outcome is redacted as well', () => {
    const e = parse(captureLine(job({ outputKind: 'error', output: { code: -32000, message: `no user ${EMAIL}`, data: { token: 'opaque-value-1234' } } }), 4096));
    assert.equal(e.result, undefined);
    assert.equal(e.error?.code, -32000);
    assert.equal(e.error?.message, 'no user [REDACTED:email]');
    assert.notEqual(e.error?.data.token, 'opaque-value-1234', 'a secret-named key is masked whole');
    assert.deepEqual(e.truncated, { arguments: false, error: false });
  });

  it('past maxPayloadBytes the redacted JSON is cut to that many bytes, kept as text and flagged', () => {
    const big = { text: `${EMAIL} ${'é'.repeat(5000)}` };
    // 513: the cut falls inside a 2-byte é (the JSON text before the é run is 26 bytes).
    const e = parse(captureLine(job({ input: big }), 513));
    assert.equal(e.truncated.arguments, true);
    assert.equal(e.truncated.result, false);
    assert.equal(typeof e.arguments, 'string');
    assert.equal(Buffer.byteLength(e.arguments as string), 512, 'backed off to the character boundary');
    assert.ok((e.arguments as string).startsWith('{"text":"[REDACTED:email] é'), 'redacted before it was cut');
    assert.ok((e.bytes.arguments ?? 0) > 513);
    assert.ok(!(e.arguments as string).includes('\uFFFD'), 'cut on a character boundary, not inside a 2-byte é');
  });

  it('resources/read params are captured under `params`; findings are bounded per entry', () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 100; i++) many[`k${i}`] = `${EMAIL}`;
    const e = parse(captureLine(job({ method: 'resources/read', name: undefined, inputKind: 'params', input: { uri: `file:///x?u=${EMAIL}` }, output: many }), 64 * 1024));
    assert.equal(e.params?.uri, 'file:///x?u=[REDACTED:email]');
    assert.deepEqual(e.target, { upstream: 'mock' });
    assert.equal(e.findings.length, MAX_ENTRY_FINDINGS);
    assert.equal(e.findings_dropped, 101 - MAX_ENTRY_FINDINGS);
  });
});
