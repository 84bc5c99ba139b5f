/**
 * Holds the current config snapshot. A call reads `holder.current` once and keeps that object
 * for its whole life, so a reload never changes the rules under a running call; `swap` replaces
 * the reference in one assignment and then tells listeners.
 */
import type { Snapshot } from './compile.js';

/** Listener for snapshot swaps; receives the new and the previous snapshot. */
export type SwapListener = (next: Snapshot, previous: Snapshot) => void;

/** The one mutable reference to the active configuration. */
export class SnapshotHolder {
  #current: Snapshot;
  readonly #listeners = new Set<SwapListener>();

  constructor(initial: Snapshot) {
    this.#current = initial;
  }

  /** The active snapshot. Read it once per call and keep the object. */
  get current(): Snapshot {
    return this.#current;
  }

  /** Makes `next` the active snapshot, then notifies listeners (a throwing listener does not stop the others). */
  swap(next: Snapshot): void {
    const previous = this.#current;
    this.#current = next;
    for (const cb of [...this.#listeners]) {
      try {
        cb(next, previous);
      } catch {
        // A listener's failure is its own problem: the swap has happened and others must hear of it.
      }
    }
  }

  /** Registers a listener; returns a function that removes it. */
  onSwap(cb: SwapListener): () => void {
    this.#listeners.add(cb);
    return () => {
      this.#listeners.delete(cb);
    };
  }
}
