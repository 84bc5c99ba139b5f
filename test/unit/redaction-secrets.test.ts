/**
 * F1 — secret masking judged by the shared secretlint corpus (`secrets/cases.jsonl`, the
 * recommend-preset snapshot cases with expected spans; see the corpus SOURCE.md):
 *  - every expected span of every `ng` case must lie inside the masked spans;
 *  - every `ok` case must come out with nothing masked;
 *  - the 5 `ng` cases with zero expected messages (ftps placeholder password, four
 *    `secretlint-disable` comment cases whose "secrets" are the words THIS IS SECRET) are judged by
 *    their output.json as SOURCE.md says: nothing may be masked;
 *  - the 2 spans that are not token spans (AWS secret key: [0,40] is the token's length anchored at
 *    the line start; GCP service-account JSON: the whole file) are judged by their token instead:
 *    the KEY from the message data, and the private key block inside the JSON;
 *  - the 7 cases with a `.secretlintrc.json` are run with those options honoured: `allows` becomes an
 *    allow-list on that rule's matches, `enableIDScanRule: false` turns off the AWS id rules
 *    (aws-access-key-id, aws-account-id), which are on by default here.
 * Only the secret rules run (`pii: false`): PII (e-mail addresses in the GCP fixtures) is judged by
 * redaction-pii.test.ts. The counts are printed and compared with the corpus totals, so the test
 * cannot pass by running nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { detectSpans, redactText, redactValue, selectRules, type AllowFn, type MergedSpan } from '../../src/redaction/index.js';
import { corporaDir } from '../helpers/corpora.js';

const ROOT = corporaDir('secrets');

function read(rel: string): string {
  const p = join(ROOT, rel);
  if (!existsSync(p)) throw new Error(`corpus missing: ${p}`);
  return readFileSync(p, 'utf8');
}

interface Case { id: string; label: 'ng' | 'ok'; input_file: string; expected_file: string }
interface Message { ruleId: string; range: [number, number]; data?: Record<string, string> }
interface RuleConfig { id: string; options?: { allows?: string[]; enableIDScanRule?: boolean } }

/** Which of our rules stand for a secretlint rule (for rule options). */
const OUR_RULES: Record<string, string[]> = {
  '@secretlint/secretlint-rule-aws': ['aws-access-key-id', 'aws-secret-access-key', 'aws-account-id'],
  '@secretlint/secretlint-rule-figma': ['figma-token'],
  '@secretlint/secretlint-rule-groq': ['groq-api-key'],
  '@secretlint/secretlint-rule-tailscale': ['tailscale-key'],
};

function patternOf(allow: string): (s: string) => boolean {
  const m = /^\/(.*)\/([a-z]*)$/.exec(allow);
  if (m) {
    const re = new RegExp(m[1]!, m[2]);
    return (s) => re.test(s);
  }
  return (s) => s === allow;
}

/** The rule set and allow-list a case's .secretlintrc.json asks for (undefined: defaults). */
function optionsFor(c: Case): { exclude: string[]; allow?: AllowFn; honoured: string[] } | undefined {
  const rc = join(ROOT, dirname(c.input_file), '.secretlintrc.json');
  if (!existsSync(rc)) return undefined;
  const cfg = JSON.parse(readFileSync(rc, 'utf8')) as { rules: { rules?: RuleConfig[] }[] };
  const exclude: string[] = [];
  const allows: { rules: string[]; test: (s: string) => boolean }[] = [];
  const honoured: string[] = [];
  for (const preset of cfg.rules) {
    for (const r of preset.rules ?? []) {
      const ours = OUR_RULES[r.id];
      assert.ok(ours, `${c.id}: options for ${r.id}, which this test does not map`);
      if (r.options?.enableIDScanRule === false) {
        exclude.push('aws-access-key-id', 'aws-account-id');
        honoured.push('enableIDScanRule=false');
      } else if (r.options?.enableIDScanRule === true) {
        honoured.push('enableIDScanRule=true');
      }
      for (const a of r.options?.allows ?? []) {
        allows.push({ rules: ours, test: patternOf(a) });
        honoured.push(`allows ${a}`);
      }
    }
  }
  const allow: AllowFn | undefined = allows.length ? (matched, rule) => allows.some((a) => a.rules.includes(rule) && a.test(matched)) : undefined;
  return { exclude, allow, honoured };
}

function covered(spans: MergedSpan[], start: number, end: number): boolean {
  // Merged spans never overlap, so one span must contain the whole range.
  return spans.some((s) => s.start <= start && s.end >= end);
}

/** The range to judge for an expected message (see the file comment for the two exceptions). */
function judgedRange(c: Case, input: string, m: Message): [number, number] {
  if (c.id === 'secretlint-rule-aws/ng.AWS Secret Access Key') {
    const key = m.data?.KEY;
    assert.ok(key, 'the AWS secret key case names its KEY');
    const at = input.indexOf(key);
    assert.ok(at >= 0, 'the AWS secret key occurs in the input');
    return [at, at + key.length];
  }
  if (c.id === 'secretlint-rule-gcp/ng.privatekey-json') {
    const b = input.indexOf('-----BEGIN PRIVATE KEY-----');
    // This fixture closes its key with four dashes: `-----END PRIVATE KEY----`.
    const endMark = '-----END PRIVATE KEY';
    const e = input.indexOf(endMark, b);
    assert.ok(b >= 0 && e > b, 'the GCP fixture holds a private key block');
    return [b, e + endMark.length];
  }
  return m.range;
}

const cases = read('cases.jsonl')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Case);

describe('F1 secret masking: secretlint recommend-preset corpus', () => {
  it('masks every expected span of every ng case and flags nothing in ok cases', () => {
    let ngWithSpans = 0;
    let expectedSpans = 0;
    let coveredSpans = 0;
    let zeroExpected = 0;
    let okCases = 0;
    let flaggedClean = 0;
    let optionCases = 0;
    const failures: string[] = [];
    for (const c of cases) {
      const input = read(c.input_file);
      const expected = (JSON.parse(read(c.expected_file)) as { messages: Message[] }).messages;
      const opts = optionsFor(c);
      if (opts) optionCases++;
      const rules = selectRules({ pii: false, exclude: opts?.exclude });
      const spans = detectSpans(input, rules, opts?.allow);
      if (expected.length === 0) {
        if (c.label === 'ok') okCases++;
        else zeroExpected++;
        if (spans.length > 0) {
          flaggedClean++;
          failures.push(`${c.id} (${c.label}, nothing expected): flagged ${spans.map((s) => `${s.rule} ${JSON.stringify(input.slice(s.start, s.end).slice(0, 60))}`).join(', ')}`);
        }
        continue;
      }
      assert.equal(c.label, 'ng', `${c.id}: expected messages in a case labelled ${c.label}`);
      ngWithSpans++;
      const masked = redactText(input, { pii: false }).value;
      for (const m of expected) {
        expectedSpans++;
        const [s, e] = judgedRange(c, input, m);
        if (covered(spans, s, e)) coveredSpans++;
        else failures.push(`${c.id}: expected span [${s}, ${e}] ${JSON.stringify(input.slice(s, e).slice(0, 60))} not masked (spans: ${JSON.stringify(spans.map((x) => [x.start, x.end, x.rule]))})`);
        // Without options, redactText must have removed the token text (when it occurs only there).
        const token = input.slice(s, e);
        if (!opts && input.indexOf(token) === input.lastIndexOf(token)) {
          if (masked.includes(token)) failures.push(`${c.id}: redactText output still contains ${JSON.stringify(token.slice(0, 40))}`);
        }
      }
    }
    console.log(
      `F1 secrets: ${cases.length} cases; ng with expected spans: ${ngWithSpans}, expected spans: ${expectedSpans}, masked: ${coveredSpans}; ` +
        `ok cases: ${okCases}, ng cases with zero expected: ${zeroExpected}; ok + zero-expected cases flagged: ${flaggedClean}; cases with rule options honoured: ${optionCases}`,
    );
    assert.deepEqual(failures, []);
    // The corpus totals (SOURCE.md): 101 cases, 59 ng (5 with no expected message), 42 ok, 107 expected messages, 7 option cases.
    assert.equal(cases.length, 101);
    assert.equal(ngWithSpans, 54);
    assert.equal(zeroExpected, 5);
    assert.equal(okCases, 42);
    assert.equal(expectedSpans, 107);
    assert.equal(coveredSpans, 107);
    assert.equal(optionCases, 7);
  });

  it('honours the options: without them the option cases do get flagged', () => {
    // The allow-lists and enableIDScanRule=false are what keep these cases clean, not a missed token.
    const optionOk = cases.filter((c) => c.label === 'ok' && optionsFor(c) !== undefined);
    assert.equal(optionOk.length, 5);
    for (const c of optionOk) {
      const spans = detectSpans(read(c.input_file), selectRules({ pii: false }));
      assert.ok(spans.length > 0, `${c.id}: with default options the token is masked`);
    }
  });

  it('masks corpus tokens inside JSON values too (redactValue on the .json inputs)', () => {
    let checked = 0;
    for (const c of cases.filter((x) => x.input_file.endsWith('.json') && x.label === 'ng')) {
      const input = read(c.input_file);
      const out = JSON.stringify(redactValue(JSON.parse(input) as unknown).value);
      assert.ok(!out.includes('MIIE') && !out.includes('MIID'), `${c.id}: key material left in ${out.slice(0, 200)}`);
      checked++;
    }
    assert.ok(checked >= 2, `JSON ng inputs checked: ${checked}`);
  });
});
