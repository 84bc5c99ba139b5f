/**
 * Drives a stdio upstream directly over its pipes (the baseline for the gateway's stdio path):
 * newline-delimited JSON-RPC, one call at a time, the same checks as the HTTP load generator.
 */
import type { Proc } from './procs.js';
import type { LoopResult, Op } from './client.js';
import { PROTOCOL_VERSION } from './client.js';
import { Samples } from './stats.js';

const CALL_TIMEOUT_MS = 10_000;

export class StdioDriver {
  private buf = '';
  private waiting: ((line: string) => void) | undefined;
  private seq = 0;

  constructor(private readonly proc: Proc) {
    proc.child.stdout.on('data', (s: string) => {
      this.buf += s;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiting;
        this.waiting = undefined;
        w?.(line);
      }
    });
  }

  /** Sends one line and resolves with the next line the process writes. */
  roundTrip(line: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`${this.proc.label}: no answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.waiting = (l) => {
        clearTimeout(timer);
        resolve(l);
      };
      this.proc.child.stdin.write(line + '\n');
    });
  }

  async handshake(): Promise<void> {
    const init = await this.roundTrip(
      JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'portcullis-bench', version: '0.0.0' } } }),
    );
    if (!(JSON.parse(init) as { result?: unknown }).result) throw new Error(`stdio initialize failed: ${init.slice(0, 200)}`);
    this.proc.child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  }

  /** `count` sequential calls (fewer if `durationMs` passes first), each checked like the HTTP ones. */
  async sequential(op: Op, count: number, durationMs = Infinity): Promise<LoopResult> {
    const out: LoopResult = { samples: new Samples(), errors: 0, firstError: undefined, seconds: 0, maxBacklog: 0 };
    const start = performance.now();
    const end = start + durationMs;
    for (let i = 0; i < count && out.errors < 50 && performance.now() < end; i++) {
      const id = ++this.seq;
      const t0 = performance.now();
      try {
        const line = await this.roundTrip(op.body(id));
        const dt = performance.now() - t0;
        const bad = op.check(line, id, (i & 63) === 0);
        if (bad) {
          out.errors++;
          out.firstError ??= bad;
        } else out.samples.add(dt);
      } catch (e) {
        out.errors++;
        out.firstError ??= (e as Error).message;
      }
    }
    out.seconds = (performance.now() - start) / 1000;
    return out;
  }
}
