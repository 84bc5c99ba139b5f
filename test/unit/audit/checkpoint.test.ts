/** C2SP signed-note / tlog-checkpoint signing and verification (checklist §3.4, I3 signature cases, I10). */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CheckpointError, addSignature, parseCheckpoint, parseNote, parseVerifierKey, signCheckpoint, verifierKey, verifyCheckpoint, verifyNote,
  type CheckpointSigner,
} from '../../../src/audit/checkpoint.js';
import { leafHash } from '../../../src/audit/merkle.js';

// Example data (key, message, signatures only) from the package documentation of Go's
// golang.org/x/mod/sumdb/note ("# Example" section of note.go, https://pkg.go.dev/golang.org/x/mod/sumdb/note).
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIG = '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const GO_ENOCH_SIG = '\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const GO_NOTE = `${GO_TEXT}\n${GO_SIG}`;

function signer(name: string): CheckpointSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { name, privateKey, publicKey };
}
const vk = (s: CheckpointSigner) => parseVerifierKey(verifierKey(s.name, s.publicKey));
const root = leafHash(Buffer.from('root'));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected a CheckpointError');
}

describe('Go sumdb/note documented example', () => {
  it('verifies with the PeterNeumann verifier key', () => {
    const key = parseVerifierKey(GO_VKEY);
    assert.equal(key.name, 'PeterNeumann');
    assert.equal(key.keyId.toString('hex'), 'c74f20a3');
    const { body, signedBy } = verifyNote(GO_NOTE, [key]);
    assert.equal(body, GO_TEXT);
    assert.deepEqual(signedBy.map((k) => k.name), ['PeterNeumann']);
    assert.equal(verifierKey(key.name, key.publicKey), GO_VKEY, 'our key string encoding matches Go');
  });

  it('the doubly-signed example verifies; the unknown EnochRoot signature is ignored', () => {
    assert.equal(verifyNote(`${GO_NOTE}${GO_ENOCH_SIG}`, [parseVerifierKey(GO_VKEY)]).signedBy.length, 1);
    assert.equal(code(() => verifyNote(`${GO_TEXT}\n${GO_ENOCH_SIG}`, [parseVerifierKey(GO_VKEY)])), 'untrusted');
  });

  it('rejects an edited text and a corrupted signature', () => {
    assert.equal(code(() => verifyNote(GO_NOTE.replace('cryptography', 'cryptographY'), [parseVerifierKey(GO_VKEY)])), 'bad-signature');
    assert.equal(code(() => verifyNote(GO_NOTE.replace('RyyBwJnAM=', 'RyyBwJnAA='), [parseVerifierKey(GO_VKEY)])), 'bad-signature');
  });

  it('rejects malformed verifier keys', () => {
    assert.equal(code(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')), 'bad-key');
    assert.equal(code(() => parseVerifierKey('PeterNeumann+c74f203+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')), 'bad-key');
    assert.equal(code(() => parseVerifierKey('PeterNeumann')), 'bad-key');
    assert.equal(code(() => parseVerifierKey('Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')), 'bad-key');
  });
});

describe('checkpoints', () => {
  const log = signer('portcullis/acme');

  it('signs the C2SP body and round-trips', () => {
    const note = signCheckpoint({ origin: 'portcullis/acme', size: 42, root }, log);
    assert.ok(note.startsWith(`portcullis/acme\n42\n${root.toString('base64')}\n\n\u2014 portcullis/acme `));
    const cp = verifyCheckpoint(note, [vk(log)], { origin: 'portcullis/acme' });
    assert.equal(cp.size, 42);
    assert.deepEqual(cp.root, root);
    const parsed = parseCheckpoint(note);
    assert.equal(parsed.signatures.length, 1);
    assert.equal(parsed.signatures[0]?.keyId.toString('hex'), vk(log).keyId.toString('hex'));
  });

  it('ignores unknown cosigners but needs one trusted signature', () => {
    const witness = signer('witness.example');
    const note = addSignature(signCheckpoint({ origin: 'portcullis/acme', size: 1, root }, log), witness);
    assert.equal(verifyCheckpoint(note, [vk(log)]).size, 1);
    assert.equal(code(() => verifyCheckpoint(signCheckpoint({ origin: 'portcullis/acme', size: 1, root }, witness), [vk(log)])), 'untrusted');
  });

  it('rejects a trusted key id whose signature fails, even next to a good one', () => {
    const rotated = signer('portcullis/acme');
    const note = signCheckpoint({ origin: 'portcullis/acme', size: 7, root }, [log, rotated]);
    assert.equal(verifyCheckpoint(note, [vk(log), vk(rotated)]).signedBy.length, 2);
    const lines = note.split('\n');
    const bad = lines[5] as string;
    const raw = Buffer.from(bad.split(' ')[2] as string, 'base64');
    raw[10] = (raw[10] as number) ^ 1;
    lines[5] = `\u2014 portcullis/acme ${raw.toString('base64')}`;
    assert.equal(code(() => verifyCheckpoint(lines.join('\n'), [vk(log), vk(rotated)])), 'bad-signature');
  });

  it("another tenant's key cannot vouch for this log (I10)", () => {
    const other = signer('portcullis/globex');
    const forged = signCheckpoint({ origin: 'portcullis/acme', size: 3, root }, other);
    assert.equal(code(() => verifyCheckpoint(forged, [vk(other)], { origin: 'portcullis/acme' })), 'untrusted');
    const theirs = signCheckpoint({ origin: 'portcullis/globex', size: 3, root }, other);
    assert.equal(code(() => verifyCheckpoint(theirs, [vk(other), vk(log)], { origin: 'portcullis/acme' })), 'wrong-origin');
  });

  it('rejects malformed notes and bodies', () => {
    const good = signCheckpoint({ origin: 'o', size: 5, root }, signer('o'));
    for (const bad of [
      good.replace('\n5\n', '\n05\n'),
      good.replace('\n5\n', '\n-5\n'),
      good.replace('\n5\n', '\n99999999999999999\n'),
      good.replace(root.toString('base64'), root.subarray(0, 31).toString('base64')),
      good.replace('\n\n', '\n'),
      good.slice(0, -1),
      good.replace('\u2014 ', '- '),
      `${good}\u2014 x\n`,
      good.replace('o\n', 'o\r\n'),
    ]) {
      assert.equal(code(() => parseCheckpoint(bad)), 'malformed', JSON.stringify(bad));
    }
    assert.equal(code(() => parseNote(Buffer.from([0xff, 0x0a, 0x0a]))), 'malformed');
    assert.equal(parseCheckpoint(good.replace(`${root.toString('base64')}\n`, `${root.toString('base64')}\next line\n`)).extensions[0], 'ext line');
  });
});
