/**
 * Capture settings (virtualServers[].capture): off by default, compiled per snapshot (a reload
 * that turns it on applies to calls on the new snapshot only), never on for the default endpoint,
 * and strict like every other section.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/compile.js';
import { captureFor, captureLimits } from '../../src/audit/capture/config.js';

const yaml = (vs: string): string =>
  ['gateway: { storage: memory }', 'upstreams:', '  - { name: up, kind: streamable-http, url: "http://127.0.0.1:9/mcp" }', 'virtualServers:', vs].join('\n');
const load = (text: string, version = 1): ReturnType<typeof loadConfigText> => loadConfigText(text, { path: '/tmp/portcullis-capture-test.yaml', env: {}, version });

describe('capture config', () => {
  it('is off by default, with documented bounds', () => {
    const snap = load(yaml('  - { name: plain, include: [{ upstream: up }] }'));
    assert.deepEqual(snap.config.virtualServers[0]?.capture, { enabled: false, maxPayloadBytes: '16kb', maxBytes: '64mb', maxAge: '7d' });
    assert.equal(captureFor(snap, 'plain'), undefined);
    assert.deepEqual(captureLimits(snap, 'plain'), { maxPayloadBytes: 16 * 1024, maxBytes: 64 * 1024 * 1024, maxAgeMs: 7 * 86_400_000 });
    assert.equal(captureFor(snap, 'default'), undefined, 'the default endpoint /mcp');
  });

  it('compiles per snapshot: turning it on in a new snapshot leaves the old one off', () => {
    const off = load(yaml('  - { name: dbg, include: [{ upstream: up }] }'));
    const on = load(yaml('  - { name: dbg, include: [{ upstream: up }], capture: { enabled: true, maxPayloadBytes: 2kb, maxBytes: 1mb, maxAge: 1h } }'), 2);
    assert.equal(captureFor(off, 'dbg'), undefined);
    assert.deepEqual(captureFor(on, 'dbg'), { maxPayloadBytes: 2048, maxBytes: 1024 * 1024, maxAgeMs: 3_600_000 });
    assert.equal(captureFor(off, 'dbg'), undefined, 'the old snapshot is unchanged');
  });

  it('a virtual server cannot be named "default": that is the view name of /mcp', () => {
    assert.throws(() => load(yaml('  - { name: default, include: [{ upstream: up }], capture: { enabled: true } }')), (e: unknown) => e instanceof ConfigError && /virtualServers\[0\]\.name.*reserved/s.test(String((e as Error).message) + JSON.stringify(e)));
  });

  it('is strict: unknown keys and bad sizes are config errors', () => {
    assert.throws(() => load(yaml('  - { name: x, include: [{ upstream: up }], capture: { enabled: true, payloads: all } }')), ConfigError);
    assert.throws(() => load(yaml('  - { name: x, include: [{ upstream: up }], capture: { maxBytes: lots } }')), ConfigError);
  });
});
