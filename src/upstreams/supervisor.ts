/**
 * LinkSupervisor: keeps one UpstreamLink of any kind alive. It starts the link on first use,
 * restarts it after an unexpected close with exponential backoff and full jitter, gives up
 * (state `unhealthy`) after too many crashes in a window, closes it when idle, and recycles it
 * after a maximum lifetime without cutting calls in flight (the old link drains first).
 *
 * `stop()` cancels every timer. Housekeeping timers (idle, lifetime, drain) are also unref'd so
 * they never keep a process alive on their own; only a pending restart, which callers may be
 * awaiting, holds the event loop until it fires.
 */
import { GatewayError } from '../pipeline/errors.js';
import type { UpstreamLink } from './types.js';

export interface SupervisorPolicy {
  /** First restart delay (the backoff's base). */
  initialDelayMs: number;
  /** Upper bound of one backoff delay. */
  maxDelayMs: number;
  /** Crashes tolerated within `windowMs`; one more and the supervisor stays unhealthy. */
  maxRestarts: number;
  windowMs: number;
  /** Close the link after this long without `get()` and with no call in flight (0: never). */
  idleTimeoutMs: number;
  /** Replace the link after this long; the old one closes once its calls finish (0: never). */
  maxLifetimeMs: number;
}

export interface SupervisorOptions {
  /** Random source in [0, 1) for the jitter (tests). */
  random?: () => number;
  /** How often a retired link is checked for remaining calls. Default 50 ms. */
  drainPollMs?: number;
  /** A retired link is closed after this long even with calls left (their own deadlines should end them first). Default 10 min. */
  drainMaxMs?: number;
  /** Told when a lifetime replacement fails to start (`attempt`: failures in a row), for the log. */
  onRecycleFailed?: (err: unknown, attempt: number) => void;
}

export type SupervisorState = 'idle' | 'starting' | 'healthy' | 'restarting' | 'unhealthy' | 'stopped';

type Listener = (state: SupervisorState, reason: string | undefined) => void;

/**
 * Backoff before restart number `n` (1-based): full jitter, uniform in
 * [1, min(maxDelay, initialDelay · 2^(n-1))], so crash-looping upstreams do not restart in lockstep.
 */
export function backoffDelay(n: number, policy: Pick<SupervisorPolicy, 'initialDelayMs' | 'maxDelayMs'>, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(Math.max(n - 1, 0), 30));
  return Math.max(1, Math.floor(random() * ceiling));
}

const unavailable = (why: string): GatewayError => new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream unavailable: ${why}`);

export class LinkSupervisor {
  private st: SupervisorState = 'idle';
  private reason: string | undefined;
  private link: UpstreamLink | undefined;
  /** The start in progress (including its backoff wait); shared by concurrent callers. */
  private starting: Promise<UpstreamLink> | undefined;
  /** Links this supervisor is closing on purpose: their 'closed' event is not a crash. */
  private readonly retiring = new Set<UpstreamLink>();
  private readonly draining = new Set<Promise<void>>();
  /** A lifetime replacement being started (not shared with get(): the old link still serves). */
  private recycling: Promise<unknown> | undefined;
  private crashes: number[] = [];
  /** Lifetime replacements that failed to start in a row (their retry's backoff). */
  private recycleFailures = 0;
  private restartCount = 0;
  private readonly listeners: Listener[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Resolvers of backoff sleeps, woken by stop() so that a pending restart ends at once. */
  private readonly sleepers = new Set<() => void>();
  private idleTimer: NodeJS.Timeout | undefined;
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private lastUsed = 0;
  /** When the live link was adopted: its max-lifetime deadline counts from here. */
  private adoptedAt = 0;
  /** Bumped by stop() and reset(): a start that finishes after it is discarded. */
  private generation = 0;
  private readonly random: () => number;

  constructor(
    private readonly factory: () => Promise<UpstreamLink>,
    private policy: SupervisorPolicy,
    private readonly opts: SupervisorOptions = {},
  ) {
    this.random = opts.random ?? Math.random;
  }

  get state(): SupervisorState {
    return this.st;
  }

  /** Why the supervisor is in its current state (last crash or failure), for /readyz and logs. */
  get stateReason(): string | undefined {
    return this.reason;
  }

  /** The live link, if any, without starting one. */
  get current(): UpstreamLink | undefined {
    return this.link && !this.link.closed ? this.link : undefined;
  }

  /** Restarts scheduled after crashes since this supervisor was made (for metrics). */
  get restarts(): number {
    return this.restartCount;
  }

  /** Crashes counted in the current window. */
  get recentCrashes(): number {
    this.pruneCrashes();
    return this.crashes.length;
  }

  onStateChange(cb: Listener): void {
    this.listeners.push(cb);
  }

  /**
   * The live link, started on first use. Concurrent callers share one start. Rejects fast with
   * ERR_UPSTREAM_UNAVAILABLE when stopped, or when unhealthy and the crash window is still full.
   */
  get(): Promise<UpstreamLink> {
    if (this.st === 'stopped') return Promise.reject(unavailable('stopped'));
    const live = this.tryGet();
    if (live) return Promise.resolve(live);
    if (this.starting) return this.starting;
    if (this.st === 'unhealthy') {
      this.pruneCrashes();
      if (this.crashes.length > this.policy.maxRestarts) return Promise.reject(unavailable(this.reason ?? 'crash loop'));
    }
    return this.begin(0);
  }

  /**
   * The live link without waiting, counted as a use like `get()`, or undefined when there is
   * none (then `get()` starts one). The data plane's fast path: no promise when the link is up.
   */
  tryGet(): UpstreamLink | undefined {
    if (this.st === 'stopped') return undefined;
    this.lastUsed = Date.now();
    const link = this.link;
    if (!link || link.closed) return undefined;
    this.armIdle();
    return link;
  }

  /** Clears the crash history; an unhealthy supervisor starts again on the next `get()`. */
  reset(): void {
    this.crashes = [];
    if (this.st === 'unhealthy') this.setState('idle', 'reset');
  }

  /**
   * New policy from a config reload, for the running supervisor: the restart rules apply from the
   * next crash (the crash history stays), a new idle timeout re-arms the idle timer, and a new
   * max lifetime re-arms the recycle timer, still counted from when the live link started (a link
   * already older than the new lifetime is recycled now, its calls in flight finishing first).
   */
  updatePolicy(policy: SupervisorPolicy): void {
    const old = this.policy;
    this.policy = policy;
    if (this.st === 'stopped' || !this.link || this.link.closed) return;
    if (policy.idleTimeoutMs !== old.idleTimeoutMs) {
      this.clearTimer(this.idleTimer);
      this.idleTimer = undefined;
      this.armIdle();
    }
    // A replacement already starting finishes; a pending retry of a failed one is re-timed (a link
    // past the new lifetime tries once at once, then backs off as before; 0 stops recycling).
    if (policy.maxLifetimeMs !== old.maxLifetimeMs && !this.recycling) {
      this.clearTimer(this.lifetimeTimer);
      this.lifetimeTimer = undefined;
      this.armLifetime();
    }
  }

  /** Closes the live link and every draining one, cancels all timers. Later `get()` calls reject. */
  async stop(): Promise<void> {
    if (this.st === 'stopped') {
      await Promise.allSettled([...this.draining]);
      return;
    }
    this.generation++;
    this.clearTimers();
    const pending = this.starting;
    this.starting = undefined;
    const link = this.link;
    this.link = undefined;
    this.setState('stopped', 'stopped');
    const closing: Promise<unknown>[] = [...this.draining];
    if (link) closing.push(this.retire(link));
    // A start already under way still produces a link (or fails); close it when it arrives.
    if (pending) closing.push(pending.then((l) => this.retire(l), () => undefined));
    if (this.recycling) closing.push(this.recycling);
    await Promise.allSettled(closing);
  }

  private setState(s: SupervisorState, reason: string | undefined): void {
    if (s === this.st && reason === this.reason) return;
    this.st = s;
    this.reason = reason;
    for (const cb of this.listeners) {
      try {
        cb(s, reason);
      } catch {
        /* a listener's failure is not the supervisor's */
      }
    }
  }

  /** Starts a link after `delayMs`; on success it becomes the live link. */
  private begin(delayMs: number): Promise<UpstreamLink> {
    const gen = this.generation;
    this.setState(delayMs > 0 || this.st === 'restarting' ? 'restarting' : 'starting', this.reason);
    const p = (async () => {
      // Always yield first, so `this.starting` is set before a synchronous failure re-enters begin().
      if (delayMs > 0) await this.sleep(delayMs);
      else await Promise.resolve();
      if (gen !== this.generation) throw unavailable('stopped');
      let link: UpstreamLink;
      try {
        link = await this.factory();
      } catch (e) {
        if (gen === this.generation) {
          this.starting = undefined;
          this.crashed(`start failed: ${(e as Error)?.message ?? String(e)}`);
        }
        throw e instanceof GatewayError ? e : unavailable((e as Error)?.message ?? String(e));
      }
      if (gen !== this.generation) {
        void this.retire(link);
        throw unavailable('stopped');
      }
      this.starting = undefined;
      this.adopt(link);
      return link;
    })();
    this.starting = p;
    // A background restart nobody waits on must not surface as an unhandled rejection.
    p.catch(() => undefined);
    return p;
  }

  private adopt(link: UpstreamLink): void {
    this.link = link;
    link.onEvent((e) => {
      if (e.type !== 'closed' || this.retiring.has(link)) return;
      if (this.link === link) {
        this.link = undefined;
        this.clearLinkTimers();
        this.crashed(e.reason);
      }
    });
    if (link.closed && !this.retiring.has(link)) {
      // Closed between the factory's resolve and our listener.
      this.link = undefined;
      this.crashed('closed right after start');
      return;
    }
    this.adoptedAt = Date.now();
    this.setState('healthy', undefined);
    this.armIdle();
    this.armLifetime();
  }

  /** Records a crash and schedules a restart, or gives up when the window is full. */
  private crashed(reason: string): void {
    if (this.st === 'stopped') return;
    this.crashes.push(Date.now());
    this.pruneCrashes();
    const n = this.crashes.length;
    if (n > this.policy.maxRestarts) {
      this.setState('unhealthy', `${reason} (${n} crashes within ${this.policy.windowMs} ms)`);
      return;
    }
    this.restartCount++;
    this.setState('restarting', reason);
    this.begin(backoffDelay(n, this.policy, this.random));
  }

  private pruneCrashes(): void {
    const cutoff = Date.now() - this.policy.windowMs;
    this.crashes = this.crashes.filter((t) => t > cutoff);
  }

  private armIdle(): void {
    const ms = this.policy.idleTimeoutMs;
    if (ms <= 0 || this.idleTimer) return;
    const check = (): void => {
      this.idleTimer = undefined;
      const link = this.link;
      if (!link || link.closed || this.st === 'stopped') return;
      const quiet = Date.now() - this.lastUsed;
      if (link.inFlight > 0 || quiet < ms) {
        this.idleTimer = this.timer(check, link.inFlight > 0 ? ms : ms - quiet);
        return;
      }
      this.link = undefined;
      this.clearLinkTimers();
      this.setState('idle', 'idle timeout');
      void this.retire(link);
    };
    this.idleTimer = this.timer(check, ms);
  }

  private armLifetime(): void {
    const ms = this.policy.maxLifetimeMs;
    if (ms <= 0) return;
    const old = this.link;
    this.lifetimeTimer = this.timer(() => {
      this.lifetimeTimer = undefined;
      if (this.link !== old || !old || this.starting || this.recycling) return;
      this.recycle(old);
    }, Math.max(0, ms - (Date.now() - this.adoptedAt)));
  }

  /** Starts a replacement; new calls keep using the old link until it is ready, then it drains. */
  private recycle(old: UpstreamLink): void {
    const gen = this.generation;
    const p = (async () => {
      let next: UpstreamLink;
      try {
        next = await this.factory();
      } catch (e) {
        if (gen === this.generation) {
          // Keep serving on the old link and try again later, without counting a crash: the old
          // link is fine, only its replacement failed. The retries back off like restarts do
          // (a replacement that cannot start, e.g. a single-instance server, must not respawn
          // several times a second).
          this.recycleFailures += 1;
          this.opts.onRecycleFailed?.(e, this.recycleFailures);
          this.lifetimeTimer = this.timer(() => {
            this.lifetimeTimer = undefined;
            // Recycling turned off by a reload meanwhile: the old link simply stays.
            if (this.link === old && !old.closed && this.policy.maxLifetimeMs > 0) this.recycle(old);
          }, backoffDelay(this.recycleFailures, this.policy, this.random));
        }
        throw e;
      }
      this.recycleFailures = 0;
      // Stopped meanwhile, or the old link crashed and a restart is already under way.
      if (gen !== this.generation || this.starting) {
        void this.retire(next);
        throw unavailable('superseded');
      }
      if (this.link === old) {
        this.clearLinkTimers();
        this.drain(old);
      }
      this.adopt(next);
      return next;
    })();
    // Not exposed through `starting` while the old link still serves: get() keeps returning it.
    const settled = p.catch(() => undefined).finally(() => {
      if (this.recycling === settled) this.recycling = undefined;
    });
    this.recycling = settled;
  }

  /** Closes a retired link once it has no calls in flight (bounded by drainMaxMs). */
  private drain(link: UpstreamLink): void {
    this.retiring.add(link);
    const poll = this.opts.drainPollMs ?? 50;
    const deadline = Date.now() + (this.opts.drainMaxMs ?? 600_000);
    const p = new Promise<void>((resolve) => {
      const check = (): void => {
        if (link.inFlight > 0 && !link.closed && Date.now() < deadline && this.st !== 'stopped') {
          // Not this.timer(): stop() clears those, and this poll must still run to close the link.
          setTimeout(check, poll).unref();
          return;
        }
        resolve();
      };
      check();
    }).then(() => this.retire(link));
    this.draining.add(p);
    void p.finally(() => this.draining.delete(p));
  }

  private async retire(link: UpstreamLink): Promise<void> {
    this.retiring.add(link);
    try {
      await link.close();
    } catch {
      /* closing is best effort */
    } finally {
      this.retiring.delete(link);
    }
  }

  private timer(fn: () => void, ms: number, ref = false): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    if (!ref) t.unref();
    this.timers.add(t);
    return t;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      this.timer(wake, ms, true);
    });
  }

  private clearTimer(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  private clearLinkTimers(): void {
    this.clearTimer(this.idleTimer);
    this.clearTimer(this.lifetimeTimer);
    this.idleTimer = undefined;
    this.lifetimeTimer = undefined;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
    this.idleTimer = undefined;
    this.lifetimeTimer = undefined;
  }
}
