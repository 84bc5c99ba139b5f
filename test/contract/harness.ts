/**
 * What a backend hands the contract suites: a fresh empty Store, a way to reopen the same data
 * (persistent backends only), and a cleanup that closes every Store it opened and removes files.
 */
import assert from 'node:assert/strict';
import type { Store } from '../../src/storage/ports.js';

export interface StoreHarness {
  store: Store;
  /** Opens the same data again after `store.close()`; omitted by backends that keep nothing. */
  reopen?(): Promise<Store>;
  cleanup(): Promise<void>;
}

/** Builds one harness per test, so no test sees another's data. */
export type StoreFactory = () => Promise<StoreHarness>;

/** What a backend declares about itself; decides which cases run. */
export interface BackendTraits {
  /** Data survives close and reopen. Default true: a backend must opt out, visibly. */
  persistent?: boolean;
}

/** Title and skip option for a case that needs persistence; the skip reason is in the title. */
export function persistentCase(name: string, title: string, traits: BackendTraits): { title: string; skip: string | false } {
  if (traits.persistent !== false) return { title, skip: false };
  const reason = `${name} backend is not persistent`;
  return { title: `${title} (skipped: ${reason})`, skip: reason };
}

/** The harness's reopen hook, which a backend declared persistent must provide. */
export function reopenOf(h: StoreHarness): () => Promise<Store> {
  assert.ok(h.reopen, 'a backend declared persistent must provide reopen()');
  return () => h.reopen!();
}
