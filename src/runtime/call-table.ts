/**
 * A Map for entries that live as long as one call (in-flight upstream calls, a session's
 * streams and requests). It behaves like a Map, but a deleted entry lets go of its value at
 * once, so that V8 can free the call's objects in the young generation.
 *
 * Why: a Map that keeps taking and deleting entries is rebuilt every few dozen calls. The old
 * table is left linked to the new one, and it still points to the values it held at that
 * moment. Once a Map's table has been promoted to the old generation (for example after an
 * idle pause), every rebuilt table is allocated there too. Each one then keeps the calls that
 * were in flight when it was replaced alive through young-generation collections, until the next
 * full collection. Measured on the gateway: 20 % of the young generation survived each
 * collection in that state instead of 2 %, and the collections took four times longer
 * (bench/RESULTS.md, run 12). Here the table holds small boxes instead. Deleting an entry
 * empties its box, so a stale table keeps only empty boxes alive.
 */
class Box<V> {
  constructor(public v: V | undefined) {}
}

export class CallTable<K, V> {
  private readonly map = new Map<K, Box<V>>();

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key)?.v;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): this {
    const box = this.map.get(key);
    if (box) box.v = value;
    else this.map.set(key, new Box(value));
    return this;
  }

  delete(key: K): boolean {
    const box = this.map.get(key);
    if (!box) return false;
    box.v = undefined;
    return this.map.delete(key);
  }

  clear(): void {
    for (const box of this.map.values()) box.v = undefined;
    this.map.clear();
  }

  /** The values, as a snapshot: callers may delete entries while they go through it. */
  values(): V[] {
    const out: V[] = [];
    for (const box of this.map.values()) out.push(box.v as V);
    return out;
  }
}
