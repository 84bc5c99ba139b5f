/**
 * CallTable: a Map's behaviour for the operations the call path uses, and a deleted entry's
 * value freed even while a stale copy of the table (what V8 leaves behind when it rebuilds a
 * Map's table) still points to the entry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { CallTable } from '../../src/runtime/call-table.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Op = { kind: 'set'; key: number; value: string } | { kind: 'delete'; key: number } | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 20 }), value: fc.string({ maxLength: 4 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

describe('CallTable', () => {
  it('answers get, has, size, delete and values as a Map does, for any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const t = new CallTable<number, string>();
        const m = new Map<number, string>();
        for (const o of ops) {
          if (o.kind === 'set') {
            t.set(o.key, o.value);
            m.set(o.key, o.value);
          } else if (o.kind === 'delete') {
            assert.equal(t.delete(o.key), m.delete(o.key));
          } else {
            t.clear();
            m.clear();
          }
          assert.equal(t.size, m.size);
        }
        for (let k = 0; k <= 20; k++) {
          assert.equal(t.has(k), m.has(k));
          assert.equal(t.get(k), m.get(k));
        }
        assert.deepEqual(t.values(), [...m.values()]);
      }),
      { numRuns: 300 },
    );
  });

  it('values() is a snapshot: deleting entries while going through it visits every value once', () => {
    const t = new CallTable<number, string>();
    for (let i = 0; i < 5; i++) t.set(i, `v${i}`);
    const seen: string[] = [];
    for (const v of t.values()) {
      seen.push(v);
      t.delete(Number(v.slice(1)));
    }
    assert.deepEqual(seen, ['v0', 'v1', 'v2', 'v3', 'v4']);
    assert.equal(t.size, 0);
  });

  it('a deleted value is collectable while a stale copy of the table still points to its entry', async () => {
    const t = new CallTable<number, { payload: number[] }>();
    let value: { payload: number[] } | undefined = { payload: [1, 2, 3] };
    const ref = new WeakRef(value);
    t.set(7, value);
    // What V8 leaves behind when it rebuilds a Map's table: the old table, still holding the entries.
    const stale = new Map((t as unknown as { map: Map<number, unknown> }).map);
    value = undefined;
    t.delete(7);
    await new Promise((r) => setImmediate(r)); // WeakRef targets are kept until the end of the job
    gc();
    assert.equal(ref.deref(), undefined, 'the value is gone although the stale table holds its entry');
    assert.equal(stale.size, 1);

    // The control: a plain Map's stale copy keeps the value alive.
    const plain = new Map<number, { payload: number[] }>();
    let kept: { payload: number[] } | undefined = { payload: [4] };
    const keptRef = new WeakRef(kept);
    plain.set(7, kept);
    const plainStale = new Map(plain);
    kept = undefined;
    plain.delete(7);
    await new Promise((r) => setImmediate(r));
    gc();
    assert.notEqual(keptRef.deref(), undefined, 'a Map entry copied into a stale table stays reachable');
    assert.equal(plainStale.size, 1);
  });
});
