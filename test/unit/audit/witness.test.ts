/**
 * The directory witness keeps one log's checkpoints in order when they arrive faster than it
 * writes them (its accepts run one at a time per log), and `audit.witnessService.trustedKeys`
 * refuses anything that is not a verifier key at config time, naming the entry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactRange, consistencyProof } from '../../../src/audit/merkle.js';
import { signCheckpoint, verifierKey } from '../../../src/audit/checkpoint.js';
import { DirectoryWitness, HttpWitness } from '../../../src/audit/witness.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../../src/observability/logger.js';
import { ConfigError, formatIssue, loadConfigText } from '../../../src/config/load.js';

describe('directory witness ordering', () => {
  it('checkpoints submitted back to back end with the largest held, each proved from the one before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-witness-unit-'));
    try {
      const signer = { name: 'gw/acme', ...generateKeyPairSync('ed25519') };
      const leaves = Array.from({ length: 60 }, () => randomBytes(32));
      const cr = new CompactRange();
      const notes = new Map<number, string>();
      leaves.forEach((l, i) => {
        cr.append(l);
        if ((i + 1) % 10 === 0) notes.set(i + 1, signCheckpoint({ origin: 'gw/acme', size: i + 1, root: cr.root() }, signer));
      });
      const w = new DirectoryWitness('w', dir);
      const asked: number[] = [];
      // Not awaited one by one: a later submission must read the size its predecessor wrote.
      await Promise.all(
        [...notes].map(([size, text]) =>
          w.submit({
            logId: 't-acme',
            text,
            size,
            root: Buffer.alloc(32),
            proof: (from) => {
              asked.push(from);
              return consistencyProof(leaves, from, size);
            },
          }),
        ),
      );
      assert.equal((await w.latest('t-acme'))?.size, 60);
      assert.deepEqual(asked, [10, 20, 30, 40, 50], 'each proof starts where the previous checkpoint left the witness');
      await w.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('directory witness close', () => {
  it('submit() after close() rejects like the http witness and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-witness-unit-'));
    try {
      const signer = { name: 'gw/acme', ...generateKeyPairSync('ed25519') };
      const leaves = Array.from({ length: 6 }, () => randomBytes(32));
      const sub = (size: number) => {
        const cr = new CompactRange();
        for (const l of leaves.slice(0, size)) cr.append(l);
        return { logId: 't-acme', text: signCheckpoint({ origin: 'gw/acme', size, root: cr.root() }, signer), size, root: cr.root(), proof: (from: number) => consistencyProof(leaves, from, size) };
      };
      const w = new DirectoryWitness('d', dir);
      await w.submit(sub(5));
      await w.close();
      await assert.rejects(w.submit(sub(6)), /witness d is closed: checkpoint of size 6 not sent/);
      assert.equal((await w.latest('t-acme'))?.size, 5, 'nothing written after close()');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('http witness retries', () => {
  it('retries a failing witness with backoff until it answers, without an unhandled rejection, and close() waits for a POST under way', async () => {
    let posts = 0;
    const bodies: { from: number }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        posts += 1;
        bodies.push(JSON.parse(body) as { from: number });
        res.writeHead(posts <= 2 ? 503 : 200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const rejections: unknown[] = [];
    const onRejection = (e: unknown): void => void rejections.push(e);
    process.on('unhandledRejection', onRejection);
    const w = new HttpWitness('h', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/w`, headers: {}, timeoutMs: 2000 }, silentLogger);
    try {
      const signer = { name: 'gw/acme', ...generateKeyPairSync('ed25519') };
      const text = signCheckpoint({ origin: 'gw/acme', size: 5, root: randomBytes(32) }, signer);
      await assert.rejects(w.submit({ logId: 't-acme', text, size: 5, root: Buffer.alloc(32), proof: () => [] }), /HTTP 503/);
      const end = Date.now() + 10_000;
      while (posts < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.equal(posts, 3, 'two retries, the second accepted');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(rejections, []);
      assert.deepEqual(bodies.map((b) => b.from), [0, 0, 0]);
    } finally {
      await w.close();
      process.off('unhandledRejection', onRejection);
      server.close();
    }
  });
});

describe('http witness ordering and close', () => {
  const note = (size: number): string => signCheckpoint({ origin: 'gw/acme', size, root: randomBytes(32) }, { name: 'gw/acme', ...generateKeyPairSync('ed25519') });
  const sub = (size: number, asked?: number[]) => ({
    logId: 't-acme',
    text: note(size),
    size,
    root: Buffer.alloc(32),
    proof: (from: number) => {
      asked?.push(from);
      return [];
    },
  });

  it('an older POST answered after a newer one does not move the acknowledged size back', async () => {
    const froms: number[] = [];
    let first: (() => void) | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        froms.push((JSON.parse(body) as { from: number }).from);
        // The first POST (size 10) is held until released; the others are answered at once.
        if (froms.length === 1) first = () => void (res.headersSent || res.writeHead(200).end());
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const w = new HttpWitness('h', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/w`, headers: {}, timeoutMs: 5000 }, silentLogger);
    try {
      const p10 = w.submit(sub(10));
      const end = Date.now() + 5000;
      while (!first && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.ok(first, 'the first POST arrived');
      await w.submit(sub(20)); // acknowledged: the witness holds 20
      first();
      await p10; // the older answer arrives last
      const asked: number[] = [];
      await w.submit(sub(30, asked));
      assert.deepEqual(froms, [0, 0, 20], 'the next proof starts at 20, the largest size acknowledged');
      assert.deepEqual(asked, [20]);
    } finally {
      first?.();
      await w.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('submit() after close() rejects and sends nothing', async () => {
    let posts = 0;
    const server = createServer((req, res) => {
      posts += 1;
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const w = new HttpWitness('h', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/w`, headers: {}, timeoutMs: 2000 }, silentLogger);
    try {
      await w.submit(sub(5));
      assert.equal(posts, 1);
      await w.close();
      await assert.rejects(w.submit(sub(6)), /witness h is closed: checkpoint of size 6 not sent/);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(posts, 1, 'nothing sent after close()');
    } finally {
      await w.close();
      server.close();
    }
  });
});

describe('audit.witnessService config', () => {
  it('accepts verifier keys and names a bad entry with its path', () => {
    const good = verifierKey('gw-a/system', generateKeyPairSync('ed25519').publicKey);
    const snap = loadConfigText(`upstreams: []\naudit:\n  witnessService:\n    enabled: true\n    trustedKeys: [${JSON.stringify(good)}]\n`, { path: '/srv/p/portcullis.yaml', env: {} });
    assert.deepEqual(snap.audit.witnessService, { enabled: true, dir: '/srv/p/.portcullis/witness', trustedKeys: [good] });
    try {
      loadConfigText(`upstreams: []\naudit:\n  witnessService:\n    enabled: true\n    trustedKeys: [${JSON.stringify(good)}, "gw-a/system+zz+AAAA"]\n`, { path: '/srv/p/portcullis.yaml', env: {} });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.issues.map(formatIssue).join('\n'), /audit\.witnessService\.trustedKeys\[1\]: not a verifier key/);
    }
  });
});
