/**
 * RFC 8785 (JCS) canonical JSON: the exact bytes of an audit record that are hashed and written.
 * `canonical()` produces the same text as the `canonicalize` package (a property test checks
 * that) at a fraction of its cost: it runs once per record on the hot path. Values whose keys are
 * already in order (the records are built that way) go through the native JSON.stringify.
 */
import canonicalize from 'canonicalize';

type WellFormed = string & { isWellFormed(): boolean };

/**
 * Canonical JSON text of a JSON value.
 * @throws TypeError on values JSON cannot carry (undefined, functions, symbols, bigint, NaN, ±Infinity).
 */
export function canonical(v: unknown): string {
  // Fast path: a value whose object keys are already in JCS order (the audit records are built
  // that way) serialises canonically with the native JSON.stringify.
  return sortedJson(v, 0) ? JSON.stringify(v) : serialise(v);
}

/**
 * True when JSON.stringify(v) is already canonical: keys enumerate in sorted order (so no
 * integer-like key out of place), plain objects and arrays of JSON values only, well-formed strings.
 */
export function isCanonicalAsIs(v: unknown): boolean {
  return sortedJson(v, 0);
}

function sortedJson(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
      return (v as WellFormed).isWellFormed();
    case 'number':
      return Number.isFinite(v);
    case 'boolean':
      return true;
    case 'object': {
      if (v === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i += 1) if (!sortedJson(v[i], depth + 1)) return false;
        return true;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) return false;
      let prev: string | undefined;
      for (const k in v) {
        // Integer-like keys are enumerated numerically, not as JCS sorts them: take the slow path.
        if ((prev !== undefined && !(prev < k)) || !(k as WellFormed).isWellFormed()) return false;
        prev = k;
        if (!sortedJson((v as Record<string, unknown>)[k], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function serialise(v: unknown): string {
  switch (typeof v) {
    case 'string':
      if (!(v as WellFormed).isWellFormed()) throw new TypeError('canonical JSON: lone surrogate');
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError('canonical JSON: non-finite number');
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i += 1) out += (i === 0 ? '' : ',') + serialise(v[i]);
        return out + ']';
      }
      const o = v as Record<string, unknown>;
      if (typeof (o as { toJSON?: unknown }).toJSON === 'function') return serialise((o as { toJSON(): unknown }).toJSON());
      // JCS sorts by UTF-16 code units, which is what the default string sort compares.
      const keys = Object.keys(o).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const x = o[k];
        if (x === undefined) continue;
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + serialise(x);
        first = false;
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON: cannot serialise a ${typeof v}`);
  }
}

/** The reference implementation (the `canonicalize` package), for tests and offline tools. */
export function canonicalReference(v: unknown): string {
  const s = canonicalize(v);
  if (s === undefined) throw new TypeError('canonical JSON: value has no JSON form');
  return s;
}
