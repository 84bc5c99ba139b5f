import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotHolder } from '../../src/config/holder.js';
import { loadConfigText } from '../../src/config/load.js';

const snap = (version: number, port: number) => loadConfigText(`gateway:\n  port: ${port}\n`, { path: '/tmp/p.yaml', env: {}, version });

test('a reader keeps the snapshot it took; swap replaces it and notifies listeners', () => {
  const holder = new SnapshotHolder(snap(1, 1000));
  const taken = holder.current;
  const seen: [number, number][] = [];
  const off = holder.onSwap((next, prev) => seen.push([next.version, prev.version]));
  holder.swap(snap(2, 2000));
  assert.equal(taken.gateway.port, 1000, 'the old object is unchanged');
  assert.equal(holder.current.version, 2);
  assert.equal(holder.current.gateway.port, 2000);
  assert.deepEqual(seen, [[2, 1]]);
  off();
  holder.swap(snap(3, 3000));
  assert.deepEqual(seen, [[2, 1]], 'removed listeners hear nothing');
});

test('a throwing listener does not stop the swap or other listeners', () => {
  const holder = new SnapshotHolder(snap(1, 1000));
  let heard = 0;
  holder.onSwap(() => {
    throw new Error('boom');
  });
  holder.onSwap(() => heard++);
  holder.swap(snap(2, 2000));
  assert.equal(holder.current.version, 2);
  assert.equal(heard, 1);
});
