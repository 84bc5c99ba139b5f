/**
 * F2 — PII redaction judged by the shared presidio-research corpus (`pii/dev.json`, synthetic
 * sentences with character spans). Per entity type:
 *  - recall: gold spans lying entirely inside one masked span of a rule for that entity;
 *  - precision: masked spans of that entity's rules that overlap a gold span of the entity;
 *  - masked-by-any: gold spans entirely inside any masked span (what a reader of the redacted text
 *    sees), reported for every entity type, including those no rule targets (names, addresses).
 * Floors are asserted for the structured entities; the table is printed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { detectSpans, selectRules, type MergedSpan } from '../../src/redaction/index.js';
import { corporaDir } from '../helpers/corpora.js';

interface GoldSpan { entity_type: string; entity_value: string; start_position: number; end_position: number }
interface Sample { full_text: string; spans: GoldSpan[] }

const FILE = corporaDir('pii', 'dev.json');

/** Our rule → the corpus entity type it detects. */
const ENTITY_OF: Record<string, string> = {
  'credit-card': 'CREDIT_CARD',
  iban: 'IBAN_CODE',
  'us-ssn': 'US_SSN',
  email: 'EMAIL_ADDRESS',
  'ip-address': 'IP_ADDRESS',
  'phone-number': 'PHONE_NUMBER',
};

/** Asserted floors. Recall aims at 0.95 for every structured entity; precision floors are what we measured, rounded down. */
const FLOORS: Record<string, { recall: number; precision: number }> = {
  CREDIT_CARD: { recall: 0.95, precision: 0.95 },
  IBAN_CODE: { recall: 0.95, precision: 0.95 },
  US_SSN: { recall: 0.95, precision: 0.95 },
  EMAIL_ADDRESS: { recall: 0.95, precision: 0.95 },
  IP_ADDRESS: { recall: 0.95, precision: 0.95 },
  PHONE_NUMBER: { recall: 0.95, precision: 0.9 },
};

interface Row { gold: number; recalled: number; predicted: number; correct: number; maskedAny: number }

function evaluate(samples: Sample[]): Map<string, Row> {
  const rows = new Map<string, Row>();
  const row = (e: string): Row => {
    let r = rows.get(e);
    if (!r) rows.set(e, (r = { gold: 0, recalled: 0, predicted: 0, correct: 0, maskedAny: 0 }));
    return r;
  };
  const rules = selectRules({ secrets: false });
  const inside = (s: MergedSpan, g: GoldSpan): boolean => s.start <= g.start_position && s.end >= g.end_position;
  const overlaps = (s: MergedSpan, g: GoldSpan): boolean => s.start < g.end_position && g.start_position < s.end;
  for (const sample of samples) {
    const spans = detectSpans(sample.full_text, rules);
    for (const g of sample.spans) {
      const r = row(g.entity_type);
      r.gold++;
      if (spans.some((s) => inside(s, g))) r.maskedAny++;
      if (spans.some((s) => ENTITY_OF[s.rule] === g.entity_type && inside(s, g))) r.recalled++;
    }
    for (const s of spans) {
      const e = ENTITY_OF[s.rule];
      assert.ok(e, `rule ${s.rule} has an entity type`);
      const r = row(e);
      r.predicted++;
      if (sample.spans.some((g) => g.entity_type === e && overlaps(s, g))) r.correct++;
    }
  }
  return rows;
}

const ratio = (a: number, b: number): string => (b === 0 ? '  -  ' : (a / b).toFixed(3));

describe('F2 PII redaction: presidio-research synthetic corpus', () => {
  it('reaches the recall and precision floors for structured entities', () => {
    if (!existsSync(FILE)) throw new Error(`corpus missing: ${FILE}`);
    const samples = JSON.parse(readFileSync(FILE, 'utf8')) as Sample[];
    assert.ok(samples.length > 900, `samples: ${samples.length}`);
    const rows = evaluate(samples);
    const lines = ['entity               gold  recall  precision (pred)  masked-by-any'];
    for (const [e, r] of [...rows.entries()].sort((a, b) => b[1].gold - a[1].gold)) {
      lines.push(`${e.padEnd(19)} ${String(r.gold).padStart(5)}  ${ratio(r.recalled, r.gold)}   ${ratio(r.correct, r.predicted)} (${String(r.predicted).padStart(4)})      ${ratio(r.maskedAny, r.gold)}`);
    }
    console.log(`F2 PII per entity (span recall = gold span inside a masked span of that entity's rule)\n${lines.join('\n')}`);
    for (const [e, floor] of Object.entries(FLOORS)) {
      const r = rows.get(e);
      assert.ok(r && r.gold > 0, `${e}: gold spans in the corpus`);
      assert.ok(r.recalled / r.gold >= floor.recall, `${e}: recall ${ratio(r.recalled, r.gold)} < ${floor.recall}`);
      assert.ok(r.correct / r.predicted >= floor.precision, `${e}: precision ${ratio(r.correct, r.predicted)} < ${floor.precision}`);
    }
  });
});
