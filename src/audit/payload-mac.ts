/**
 * HMAC-SHA256 of payload text under a log's key, for the two payload digests of every audited
 * call. It is RFC 2104 HMAC built from node:crypto's one-shot SHA-256 over a reused buffer:
 * SHA-256((K ⊕ opad) ‖ SHA-256((K ⊕ ipad) ‖ m)). The padded keys are computed once per log.
 *
 * Why not `createHmac`: under load the gateway spent about 6 µs per `createHmac` call in its
 * constructor alone (V8 profile of the bench's audit workload, 2026-11-24). OpenSSL 3 looks the
 * HMAC algorithm up again for every new context. The one-shot hash caches its digest. A test
 * checks this function against `createHmac` on random and non-ASCII inputs.
 */
import { createHmac, hash } from 'node:crypto';

const BLOCK = 64;
/** Payloads up to this many UTF-8 bytes use the reused buffer; longer ones use createHmac. */
const SCRATCH_BYTES = 64 * 1024;

export interface PayloadDigestParts {
  bytes: number;
  hex: string;
}

/**
 * (K ⊕ ipad) ‖ message and (K ⊕ opad) ‖ inner digest, shared by every log's PayloadMac: digest()
 * is synchronous, so one pair of buffers serves all tenants (a tenant's log keeps only its pads).
 */
const INNER = Buffer.allocUnsafe(BLOCK + SCRATCH_BYTES);
const OUTER = Buffer.allocUnsafe(BLOCK + 32);

export class PayloadMac {
  private readonly ipad = Buffer.alloc(BLOCK);
  private readonly opad = Buffer.alloc(BLOCK);

  constructor(private readonly key: Buffer) {
    // Keys longer than a block are hashed first (RFC 2104 §2); shorter ones are zero-padded.
    const k = key.length > BLOCK ? hash('sha256', key, 'buffer') : key;
    for (let i = 0; i < BLOCK; i += 1) {
      const b = i < k.length ? (k[i] as number) : 0;
      this.ipad[i] = b ^ 0x36;
      this.opad[i] = b ^ 0x5c;
    }
  }

  /** UTF-8 byte length and hex HMAC of `text`. */
  digest(text: string): PayloadDigestParts {
    // A string of n UTF-16 units has at most 3n UTF-8 bytes: only then is the buffer sure to hold it.
    if (text.length * 3 > SCRATCH_BYTES) {
      return { bytes: Buffer.byteLength(text), hex: createHmac('sha256', this.key).update(text).digest('hex') };
    }
    this.ipad.copy(INNER, 0);
    const n = INNER.write(text, BLOCK, 'utf8');
    this.opad.copy(OUTER, 0);
    // The inner digest as a 'binary' string (one char per byte) written straight after the outer
    // pad: no Buffer of its own (a Buffer digest costs about twice as much, see merkle.ts sha256Pooled).
    OUTER.write(hash('sha256', INNER.subarray(0, BLOCK + n), 'binary'), BLOCK, 'latin1');
    return { bytes: n, hex: hash('sha256', OUTER, 'hex') };
  }
}
