/**
 * Linear-time safety of the redaction rules. Every RegExp a rule uses either runs on V8's linear
 * engine or has no nested/alternating repetition; and every rule (its scanner called directly,
 * pre-filter bypassed) over adversarial 100 KB inputs — long runs of token characters, repeated
 * prefixes with no valid end, separators between digits, `@`/`://`/`:` storms, BEGIN lines without
 * END — finishes far inside a generous bound. The bound is not a timing test: catastrophic
 * backtracking on 100 KB takes minutes, linear scanning takes milliseconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unsafePatternReason } from '../../src/arguments/regexp.js';
import { redactText, redactValue, selectRules } from '../../src/redaction/index.js';
import { REGISTERED } from '../../src/redaction/regex.js';
import type { Span } from '../../src/redaction/types.js';

const SIZE = 100_000;
const fill = (unit: string): string => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);

const ADVERSARIAL: Record<string, string> = {
  digits: fill('1'),
  'digits spaced': fill('1 '),
  'digits dashed': fill('12-'),
  'digits dotted': fill('1.'),
  'digit groups': fill('123 45 '),
  'plus parens': fill('+1 (2) '),
  hex: fill('a'),
  'hex colons': fill('a:'),
  colons: fill(':'),
  'double colons': fill('1::'),
  base64: fill('Ab0+/'),
  'base64url dots': fill('eyJ.'),
  letters: fill('ab'),
  'upper alnum': fill('AKIA0'),
  'at signs': fill('a@'),
  'dotted at': fill('a.b@c.'),
  'scheme storm': fill('a://'),
  'userinfo storm': fill('http://u:p@'),
  'begin no end': fill('-----BEGIN PRIVATE KEY-----\nMIIE'),
  'begin end mix': fill('-----BEGIN RSA PRIVATE KEY-----x-----END '),
  dashes: fill('-'),
  'ghp prefixes': fill('ghp_'),
  'sk prefixes': fill('sk-'),
  openai: fill('sk-T3BlbkFJ'),
  'xox prefixes': fill('xoxb-'),
  'aws secret names': fill('aws_secret_access_key = '),
  'aws account names': fill('AWS_ACCOUNT_ID=1234'),
  'bearer storm': fill('Bearer '),
  'iban-ish': fill('GB82 WEST '),
  'tskey storm': fill('tskey-a-'),
  'markers': fill('[REDACTED:email]'),
  'lone surrogates': fill('\uD800a'),
  'ssn words': fill('ssn 123 45 '),
};

describe('redaction ReDoS safety', () => {
  it('every rule RegExp is on the linear engine or free of nested/alternating repetition', () => {
    assert.ok(REGISTERED.length >= 5, `registered patterns: ${REGISTERED.length}`);
    for (const { re, linear } of REGISTERED) {
      if (!linear) assert.equal(unsafePatternReason(re.source), undefined, `backtracking pattern must be simple: ${re.source}`);
    }
    console.log(`redaction patterns: ${REGISTERED.length}, on the linear engine: ${REGISTERED.filter((r) => r.linear).length}`);
  });

  it('each rule over all adversarial 100 KB inputs finishes inside 2 s', () => {
    const rules = selectRules();
    const t0 = performance.now();
    let slowestRule = { ms: 0, name: '' };
    let slowestRun = { ms: 0, what: '' };
    for (const rule of rules) {
      const r0 = performance.now();
      for (const [name, input] of Object.entries(ADVERSARIAL)) {
        const t = performance.now();
        const out: Span[] = [];
        rule.find(input, out);
        const ms = performance.now() - t;
        if (ms > slowestRun.ms) slowestRun = { ms, what: `${rule.name} on ${name}` };
      }
      const ruleMs = performance.now() - r0;
      if (ruleMs > slowestRule.ms) slowestRule = { ms: ruleMs, name: rule.name };
      // Generous: catastrophic backtracking over 100 KB takes minutes; linear scans take milliseconds.
      assert.ok(ruleMs < 2_000, `${rule.name}: ${ruleMs.toFixed(0)} ms over the adversarial inputs`);
    }
    const total = performance.now() - t0;
    console.log(
      `ReDoS: ${rules.length} scanners × ${Object.keys(ADVERSARIAL).length} inputs of 100 KB in ${total.toFixed(0)} ms; ` +
        `slowest scanner ${slowestRule.name} ${slowestRule.ms.toFixed(0)} ms in all; slowest single run ${slowestRun.what} ${slowestRun.ms.toFixed(1)} ms`,
    );
  });

  it('redactText and redactValue over the same inputs stay bounded', () => {
    const t0 = performance.now();
    for (const input of Object.values(ADVERSARIAL)) {
      redactText(input);
      redactValue({ a: input, b: [input] });
    }
    const total = performance.now() - t0;
    console.log(`ReDoS end to end: ${Object.keys(ADVERSARIAL).length} inputs × 3 strings in ${total.toFixed(0)} ms`);
    assert.ok(total < 20_000, `total ${total.toFixed(0)} ms`);
  });
});
