/**
 * Modern client, legacy upstream, server-to-client request (mcp-protocol.md §9): the upstream
 * asks for sampling, elicitation or roots in the middle of a call, but a 2026-07-28 client can
 * only be asked through MRTR. The gateway parks the upstream call, answers the client with
 * `input_required` and a `requestState` it seals itself (HMAC; bound to the principal and an
 * expiry), and when the client retries with `inputResponses` it answers the parked upstream
 * request and goes on waiting for the outcome — or the next question.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CallOutcome, JsonRpcNotification } from '../mcp/jsonrpc.js';
import type { CallSink } from '../upstreams/types.js';

const PREFIX = 'pcl1.';
const PARK_TTL_MS = 5 * 60_000;
const MAX_PARKED = 1000;

interface Question {
  key: string;
  method: string;
  params: Record<string, unknown> | undefined;
  answer(o: CallOutcome): void;
}

/** One upstream call held open across several client requests. */
export class ParkedCall implements CallSink {
  readonly id = randomBytes(16).toString('base64url');
  readonly expiresAt = Date.now() + PARK_TTL_MS;
  readonly abort = new AbortController();
  private target: CallSink;
  private question: Question | undefined;
  private wake: ((q: Question) => void) | undefined;
  private seq = 0;
  outcome: Promise<CallOutcome> | undefined;

  /** Key of the question awaiting the client's answer, if any. */
  get openQuestion(): string | undefined {
    return this.question?.key;
  }

  constructor(
    readonly principal: string,
    first: CallSink,
  ) {
    this.target = first;
  }

  notify(msg: JsonRpcNotification): void {
    this.target.notify(msg);
  }

  request(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallOutcome> {
    return new Promise<CallOutcome>((resolve) => {
      const q: Question = { key: `q${++this.seq}`, method, params, answer: resolve };
      signal.addEventListener('abort', () => resolve({ error: { code: -32800, message: 'Request cancelled' } }), { once: true });
      this.question = q;
      this.wake?.(q);
    });
  }

  /** Waits for the upstream outcome or its next question, whichever comes first. */
  next(sink: CallSink): Promise<{ done: CallOutcome } | { ask: Question }> {
    this.target = sink;
    const pending = this.question;
    if (pending) return Promise.resolve({ ask: pending });
    return Promise.race([
      this.outcome!.then((done) => ({ done })),
      new Promise<{ ask: Question }>((resolve) => {
        this.wake = (q) => resolve({ ask: q });
      }),
    ]);
  }

  /** Answers the open question with an error (e.g. the client lacks the capability it needs). */
  refuse(error: { code: number; message: string }): void {
    const q = this.question;
    if (!q) return;
    this.question = undefined;
    this.wake = undefined;
    q.answer({ error });
  }

  /** The client's answer to the open question, from its retry's `inputResponses`. */
  answer(inputResponses: unknown): boolean {
    const q = this.question;
    if (!q || typeof inputResponses !== 'object' || inputResponses === null) return false;
    const value = (inputResponses as Record<string, unknown>)[q.key];
    if (typeof value !== 'object' || value === null) return false;
    this.question = undefined;
    this.wake = undefined;
    q.answer({ result: value as Record<string, unknown> });
    return true;
  }
}

/** Parked calls of this process, bounded in number and time; unanswered ones are cancelled upstream. */
export class ParkingLot {
  private readonly parked = new Map<string, ParkedCall>();
  private readonly key = randomBytes(32);

  add(p: ParkedCall): boolean {
    if (this.parked.has(p.id)) return true;
    this.sweep();
    if (this.parked.size >= MAX_PARKED) return false;
    this.parked.set(p.id, p);
    const t = setTimeout(() => this.drop(p.id), Math.max(0, p.expiresAt - Date.now()));
    t.unref();
    void p.outcome?.finally(() => {
      clearTimeout(t);
      this.parked.delete(p.id);
    });
    return true;
  }

  drop(id: string): void {
    const p = this.parked.get(id);
    if (!p) return;
    this.parked.delete(id);
    p.abort.abort();
  }

  seal(p: ParkedCall): string {
    // The open question's key makes each round's state different: an old state cannot answer a newer question.
    const body = Buffer.from(JSON.stringify({ i: p.id, e: p.expiresAt, q: p.openQuestion })).toString('base64url');
    return `${PREFIX}${body}.${this.mac(body)}`;
  }

  /** The parked call a `requestState` names, if it is ours, intact, unexpired and the caller's. */
  open(state: unknown, principal: string): ParkedCall | undefined | 'foreign' {
    if (typeof state !== 'string' || !state.startsWith(PREFIX) || state.length > 512) return 'foreign';
    const [body, mac] = state.slice(PREFIX.length).split('.');
    if (!body || !mac) return undefined;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    let claims: { i?: unknown; e?: unknown; q?: unknown };
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    if (typeof claims.i !== 'string' || typeof claims.e !== 'number' || claims.e < Date.now()) return undefined;
    const p = this.parked.get(claims.i);
    return p && p.principal === principal && p.openQuestion !== undefined && p.openQuestion === claims.q ? p : undefined;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.parked) if (p.expiresAt < now) this.drop(id);
  }

  close(): void {
    for (const id of [...this.parked.keys()]) this.drop(id);
  }
}
