/** In-memory EraVerdictStore: one map per upstream, so deleting all auth contexts is one step. */
import type { EraVerdict, EraVerdictStore } from '../ports.js';
import { compareVerdicts, toMs, type Lifecycle } from '../values.js';

interface Row {
  v: Omit<EraVerdict, 'probedAt'>;
  probedAtMs: number;
}

const copyOut = (r: Row): EraVerdict => ({ ...r.v, probedAt: new Date(r.probedAtMs) });

/** Volatile verdict cache; its contents vanish with the process. */
export class MemoryEraVerdictStore implements EraVerdictStore {
  readonly #byUpstream = new Map<string, Map<string, Row>>();

  constructor(private readonly life: Lifecycle) {}

  async get(upstream: string, authContext: string): Promise<EraVerdict | undefined> {
    this.life.assertOpen();
    const row = this.#byUpstream.get(upstream)?.get(authContext);
    return row ? copyOut(row) : undefined;
  }

  async put(v: EraVerdict): Promise<void> {
    this.life.assertOpen();
    const probedAtMs = toMs(v.probedAt, 'probedAt');
    // Copy only the known fields: a caller's extra properties must not ride along into the store.
    const row: Row = {
      v: { upstream: v.upstream, authContext: v.authContext, transport: v.transport, era: v.era, protocolVersion: v.protocolVersion },
      probedAtMs,
    };
    let contexts = this.#byUpstream.get(v.upstream);
    if (!contexts) this.#byUpstream.set(v.upstream, (contexts = new Map()));
    contexts.set(v.authContext, row);
  }

  async delete(upstream: string, authContext?: string): Promise<void> {
    this.life.assertOpen();
    if (authContext === undefined) {
      this.#byUpstream.delete(upstream);
      return;
    }
    const contexts = this.#byUpstream.get(upstream);
    contexts?.delete(authContext);
    if (contexts?.size === 0) this.#byUpstream.delete(upstream);
  }

  async list(): Promise<EraVerdict[]> {
    this.life.assertOpen();
    const out: EraVerdict[] = [];
    for (const contexts of this.#byUpstream.values()) for (const row of contexts.values()) out.push(copyOut(row));
    return out.sort(compareVerdicts);
  }
}
