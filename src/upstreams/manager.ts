/**
 * UpstreamManager: one configured upstream. It owns the link supervisors (one shared, or one per
 * principal or session, as `sharing` says), keeps the upstream's catalogue fresh (at start, on
 * every reconnect and on list_changed), and reports health. An upstream that is down or
 * crash-looping is `unhealthy`: the catalogue leaves it out and the others keep working.
 */
import { upstreamChange, type CompiledUpstream, type InPlaceField } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../storage/ports.js';
import { fetchLists, NULL_SINK, type UpstreamLists } from '../catalog/fetch.js';
import { headerParamMap } from '../mcp/mirrored-headers.js';
import { GatewayError } from '../pipeline/errors.js';
import type { CallOutcome, JsonRpcNotification } from '../mcp/jsonrpc.js';
import { LinkSupervisor, type SupervisorPolicy, type SupervisorState } from './supervisor.js';
import { openLinkFor, type LinkDeps } from './open-link.js';
import { UpstreamGuard } from './resilience/guard.js';
import type { PeerTimeouts } from './peer.js';
import type { UpstreamInfo, UpstreamLink } from './types.js';

export type ListKind = 'tools' | 'prompts' | 'resources';

export type Health = 'starting' | 'healthy' | 'unhealthy' | 'stopped';

export interface ManagerEvents {
  /**
   * The upstream's lists or health changed: the gateway rebuilds the catalogue. `announced`
   * names the lists the upstream itself said changed: clients hear of those even when the
   * definitions look the same.
   */
  onCatalogChange(announced?: { upstream: string; kinds: ListKind[] }): void;
  /** A notification from the upstream that belongs to no call (e.g. resources/updated). */
  onNotification(upstream: string, msg: JsonRpcNotification): void;
  /** Health changed (the audit log's `upstream.health`). */
  onHealth?(upstream: string, health: Health, reason: string): void;
}

/** Supervisors per sharing key beyond which new principals/sessions are refused (bounded memory and processes). */
const MAX_PRIVATE_LINKS = 1000;
const DEFAULT_RESTART = { initialDelayMs: 200, maxDelayMs: 30_000, maxRestarts: 10, windowMs: 300_000 };
/** Longest wait before a failed catalogue read is tried again. */
const RETRY_MAX_MS = 60_000;
/** How often a retiring upstream checks for calls still in flight. */
const RETIRE_POLL_MS = 50;

export class UpstreamManager {
  health: Health = 'starting';
  healthReason = 'starting';
  lists: UpstreamLists | undefined;
  info: UpstreamInfo | undefined;
  private readonly control: LinkSupervisor;
  private readonly privateLinks = new Map<string, LinkSupervisor>();
  /** The newest verified access token of each private link's caller (bounded like privateLinks). */
  private readonly subjects = new Map<string, string>();
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private stopped = false;
  /** Replaced by a new config and draining (retire()). */
  private retiring = false;
  private readonly abort = new AbortController();
  /** Resource URIs clients subscribed to, with how many subscriptions each (shared links subscribe once). */
  private readonly interest = new Map<string, number>();
  private listenCtl: AbortController | undefined;
  private listenFailures = 0;
  /** Catalogue reads failed in a row (the retry's backoff). */
  private refreshFailures = 0;
  private readonly announced = new Set<ListKind>();
  /** Breaker, bulkhead, retries and read cache for calls to this upstream (src/upstreams/resilience). */
  readonly guard: UpstreamGuard;

  /** The upstream's config: replaced by `update` when a reload changes only in-place settings. */
  private current: CompiledUpstream;

  constructor(
    cfg: CompiledUpstream,
    private readonly log: Logger,
    private readonly store: Store,
    private readonly events: ManagerEvents,
    /** gateway.limits.maxUpstreamMessageBytes, baked into HTTP links when they open. */
    readonly maxMessageBytes: number,
    private readonly linkDeps?: LinkDeps,
  ) {
    this.current = cfg;
    this.guard = new UpstreamGuard(cfg.name, cfg.resilience, log);
    this.control = this.newSupervisor('control');
    this.control.onStateChange((s, reason) => this.onControlState(s, reason));
  }

  get cfg(): CompiledUpstream {
    return this.current;
  }

  get name(): string {
    return this.cfg.name;
  }

  /**
   * Applies a reloaded config whose connection is the same (`upstreamChange(...).action ===
   * 'update'`) to the running upstream, without touching its processes or connections: later
   * calls read the new deadlines, naming and resilience settings, live links get the new
   * deadlines, and the supervisors the new restart, idle and lifetime policies. The catalogue
   * rebuild that follows a reload applies a new prefix or tags. Returns the fields that changed.
   * @throws Error when the change needs a replacement (a connection field differs).
   */
  update(next: CompiledUpstream): InPlaceField[] {
    const change = upstreamChange(this.current, next);
    if (change.action === 'replace') throw new Error(`upstream ${this.name}: a connection setting changed; replace the upstream instead`);
    this.current = next;
    if (change.action === 'keep') return [];
    const fields = new Set(change.fields);
    if (fields.has('resilience')) this.guard.update(next.resilience);
    const supervisors = [this.control, ...this.privateLinks.values()];
    if (fields.has('timeouts')) for (const s of supervisors) if (s.current) applyTimeouts(s.current, next.timeouts);
    if (fields.has('restart') || fields.has('idleTimeout') || fields.has('maxLifetime')) {
      this.control.updatePolicy(this.policyFor(false));
      for (const s of this.privateLinks.values()) s.updatePolicy(this.policyFor(true));
    }
    return change.fields;
  }

  /** Starts the control link and loads the catalogue; failures leave the upstream unhealthy, never throw. */
  start(): void {
    this.control.get().catch((e: unknown) => this.setHealth('unhealthy', String((e as Error)?.message ?? e)));
  }

  /** The key of a caller's private link (per-session or per-principal sharing). */
  private privateKey(principalKey: string, sessionId: string | undefined): string {
    return this.cfg.sharing === 'per-session' && sessionId ? `s:${sessionId}` : `p:${principalKey}`;
  }

  /**
   * The caller's link if it is up, without waiting (the data plane's fast path), else undefined:
   * then `link()` starts or waits for one.
   */
  liveLink(principalKey: string, sessionId: string | undefined, subjectToken?: string): UpstreamLink | undefined {
    if (this.stopped) return undefined;
    if (this.cfg.sharing === 'shared') return this.control.tryGet();
    const key = this.privateKey(principalKey, sessionId);
    const link = this.privateLinks.get(key)?.tryGet();
    if (link && subjectToken !== undefined) this.subjects.set(key, subjectToken);
    return link;
  }

  /** The link a call should use, chosen by the upstream's sharing mode. */
  async link(principalKey: string, sessionId: string | undefined, subjectToken?: string): Promise<UpstreamLink> {
    if (this.stopped) throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream ${this.name} is stopped`);
    if (this.cfg.sharing === 'shared') return this.control.get();
    const key = this.privateKey(principalKey, sessionId);
    // The caller's newest access token, for links that exchange it (RFC 8693) when they refresh.
    if (subjectToken !== undefined) this.subjects.set(key, subjectToken);
    let sup = this.privateLinks.get(key);
    if (!sup) {
      if (this.privateLinks.size >= MAX_PRIVATE_LINKS) {
        throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream ${this.name} has reached its limit of private connections`);
      }
      sup = this.newSupervisor(key);
      this.privateLinks.set(key, sup);
      const own = sup;
      own.onStateChange((s) => {
        if (s !== 'stopped' && s !== 'idle') return;
        // An idle private link is retired for good, so nothing can restart it untracked.
        if (this.privateLinks.get(key) === own) {
          this.privateLinks.delete(key);
          this.subjects.delete(key);
        }
        if (s === 'idle') void own.stop();
      });
    }
    const own = sup;
    return own.get().catch((e: unknown) => {
      // The caller has not authorized yet: no restart loop for this link, and once they have
      // authorized the next call starts a fresh one.
      if (e instanceof GatewayError && e.code === 'ERR_UPSTREAM_AUTH_REQUIRED' && this.privateLinks.get(key) === own) {
        this.privateLinks.delete(key);
        this.subjects.delete(key);
        void own.stop();
      }
      throw e;
    });
  }

  /** A legacy session ended: its private links go with it. */
  releaseSession(sessionId: string): void {
    const key = `s:${sessionId}`;
    const sup = this.privateLinks.get(key);
    if (!sup) return;
    this.privateLinks.delete(key);
    sup.stop().catch(() => undefined);
  }

  get privateLinkCount(): number {
    return this.privateLinks.size;
  }

  /** Live links (for stdio: running processes) and restarts after crashes, read by the metrics collector. */
  get linkStats(): { live: number; restarts: number } {
    let live = 0;
    let restarts = 0;
    for (const s of [this.control, ...this.privateLinks.values()]) {
      if (s.current) live++;
      restarts += s.restarts;
    }
    return { live, restarts };
  }

  /** Calls in flight on this upstream's links. */
  get inFlight(): number {
    let n = 0;
    for (const s of [this.control, ...this.privateLinks.values()]) n += s.current?.inFlight ?? 0;
    return n;
  }

  /**
   * Replaced by a new config: takes no part in the catalogue any more, lets the calls in flight
   * finish (at most `maxMs`), then stops. New calls already go to the replacement.
   */
  async retire(maxMs: number): Promise<void> {
    if (this.stopped) return;
    this.retiring = true;
    // The control link's listen stream never ends by itself: it is not a call to wait for.
    this.listenCtl?.abort();
    const end = Date.now() + maxMs;
    while (!this.stopped && this.inFlight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, RETIRE_POLL_MS));
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.listenCtl?.abort();
    const all = [this.control, ...this.privateLinks.values()];
    this.privateLinks.clear();
    await Promise.allSettled(all.map((s) => s.stop()));
    this.setHealth('stopped', 'stopped');
  }

  /**
   * A control link given up after a crash loop is tried again once its crash window has passed:
   * no call reaches an unhealthy upstream (forward.ts) and the catalogue leaves it out, so
   * nothing else would ever start it again. A server that keeps crashing costs at most
   * maxRestarts + 1 starts per window.
   */
  private retryAfterWindow(): void {
    const { windowMs } = this.restartPolicy();
    setTimeout(() => {
      if (this.stopped || this.control.state !== 'unhealthy') return;
      this.log.info({ upstream: this.name }, 'upstream.retry_after_crash_loop');
      this.start();
    }, windowMs + 1).unref();
  }

  private restartPolicy(): typeof DEFAULT_RESTART {
    return this.cfg.kind === 'stdio' ? this.cfg.restart : DEFAULT_RESTART;
  }

  private policyFor(isPrivate: boolean): SupervisorPolicy {
    return {
      ...this.restartPolicy(),
      // The control link lives as long as the upstream; private links may idle out.
      idleTimeoutMs: isPrivate && this.cfg.kind === 'stdio' ? this.cfg.idleTimeoutMs : 0,
      maxLifetimeMs: this.cfg.kind === 'stdio' ? this.cfg.maxLifetimeMs : 0,
    };
  }

  private newSupervisor(key: string): LinkSupervisor {
    const isPrivate = key !== 'control';
    return new LinkSupervisor(() => this.openLink(key), this.policyFor(isPrivate), {
      onRecycleFailed: (e, attempt) =>
        this.log.warn({ upstream: this.name, link: isPrivate ? 'private' : 'control', attempt, err: (e as Error)?.message ?? String(e) }, 'upstream.recycle_failed'),
    });
  }

  private async openLink(key: string): Promise<UpstreamLink> {
    const cfg = this.cfg;
    const link = await openLinkFor(cfg, this.log, this.store, this.maxMessageBytes, this.linkDeps, key.startsWith('p:') ? key.slice(2) : undefined, () => this.subjects.get(key));
    // Updated in place while this link was opening: it must not keep the old deadlines.
    if (this.cfg !== cfg) applyTimeouts(link, this.cfg.timeouts);
    if (key === 'control' && this.lists) {
      // A replacement control link (restart or max-lifetime recycle): re-read the catalogue and
      // move the listen stream onto it once the supervisor has adopted it.
      this.listenCtl?.abort();
      setImmediate(() => this.refresh());
    }
    if (key === 'control') {
      link.onEvent((e) => {
        if (e.type !== 'notification') return;
        const m = /^notifications\/(tools|prompts|resources)\/list_changed$/.exec(e.msg.method);
        if (m) {
          this.refresh(m[1] as ListKind);
        } else {
          this.events.onNotification(this.name, e.msg);
        }
      });
    } else {
      link.onEvent((e) => {
        if (e.type === 'notification' && e.msg.method === 'notifications/resources/updated') this.events.onNotification(this.name, e.msg);
      });
    }
    return link;
  }

  private onControlState(s: SupervisorState, reason: string | undefined): void {
    if (s === 'healthy') {
      this.refresh();
    } else if (s === 'unhealthy' || s === 'restarting') {
      this.setHealth('unhealthy', reason ?? s);
      if (s === 'unhealthy') this.retryAfterWindow();
    } else if (s === 'stopped') {
      this.setHealth('stopped', reason ?? 'stopped');
    }
  }

  /** Re-reads the upstream's lists; concurrent triggers coalesce into one follow-up read. */
  refresh(announced?: ListKind): void {
    if (this.stopped || this.retiring) return;
    if (announced) this.announced.add(announced);
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const link = await this.control.get();
          const lists = await fetchLists(link, this.abort.signal);
          lists.tools = this.withParamMaps(link, lists.tools);
          this.lists = lists;
          this.info = link.info;
          if (link.era === 'modern' && (!this.listenCtl || this.listenCtl.signal.aborted)) this.startListen(link);
          this.setHealth('healthy', `${link.era} ${link.info.protocolVersion}`);
          const kinds = [...this.announced];
          this.announced.clear();
          this.events.onCatalogChange(kinds.length ? { upstream: this.name, kinds } : undefined);
        } while (this.refreshAgain && !this.stopped);
        this.refreshFailures = 0;
      } catch (e) {
        this.setHealth('unhealthy', `catalogue read failed: ${(e as Error).message}`);
        this.retryRefresh();
      } finally {
        this.refreshing = undefined;
      }
    })();
  }

  /**
   * A failed catalogue read (a timeout, an error answer) on a link that is otherwise fine is read
   * again after a backoff (1 s doubling to 60 s): one slow answer must not leave the upstream
   * out of the catalogue for good. A crashed link is the supervisor's (onControlState).
   */
  private retryRefresh(): void {
    if (this.stopped || this.control.state === 'unhealthy' || this.control.state === 'stopped') return;
    const delay = Math.min(RETRY_MAX_MS, 1000 * 2 ** Math.min(this.refreshFailures++, 6));
    setTimeout(() => {
      if (!this.stopped && this.health === 'unhealthy') this.refresh();
    }, delay).unref();
  }

  /**
   * Modern upstreams announce changes only on a `subscriptions/listen` stream: the control link
   * keeps one open (no total deadline) for list changes and the resource URIs clients watch.
   */
  private startListen(link: UpstreamLink): void {
    this.listenCtl?.abort();
    const ctl = new AbortController();
    this.listenCtl = ctl;
    const notifications: Record<string, unknown> = { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true };
    if (this.interest.size) notifications.resourceSubscriptions = [...this.interest.keys()];
    void link.call('subscriptions/listen', { notifications }, { sink: NULL_SINK, signal: ctl.signal, totalMs: 0 }).then((o) => {
      if (ctl.signal.aborted || this.stopped || link.closed) return;
      if ('error' in o && o.error.code === -32601) return; // the upstream has no listen: nothing to re-open
      // The upstream ended the stream: re-open after a backoff and catch up on anything missed.
      const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.listenFailures++, 6));
      setTimeout(() => {
        if (this.listenCtl !== ctl || this.stopped || link.closed) return;
        this.startListen(link);
        this.refresh();
      }, delay).unref();
    });
    setTimeout(() => {
      if (!ctl.signal.aborted) this.listenFailures = 0;
    }, 60_000).unref();
  }

  /**
   * resources/subscribe and unsubscribe from clients, counted per URI: the upstream hears the
   * first subscribe and the last unsubscribe only, so one client cannot cancel another's
   * subscription on a shared link. Modern upstreams have no subscribe: the URI joins the listen filter.
   */
  async changeInterest(method: 'resources/subscribe' | 'resources/unsubscribe', uri: string, link: UpstreamLink, forward: () => Promise<CallOutcome>): Promise<CallOutcome> {
    const n = this.interest.get(uri) ?? 0;
    const subscribe = method === 'resources/subscribe';
    const next = subscribe ? n + 1 : Math.max(0, n - 1);
    const edge = subscribe ? n === 0 : n === 1;
    if (next === 0) this.interest.delete(uri);
    else this.interest.set(uri, next);
    if (!edge) return { result: {} };
    if (link.era === 'modern') {
      // The listen stream lives on the control link, which also carries list changes.
      void this.control.get().then((control) => this.startListen(control), () => undefined);
      return { result: {} };
    }
    const o = await forward();
    if ('error' in o) {
      if (n === 0) this.interest.delete(uri);
      else this.interest.set(uri, n);
    }
    return o;
  }

  /** A session ended: its subscriptions stop counting. */
  dropInterest(uris: Iterable<string>): void {
    const gone: string[] = [];
    for (const uri of uris) {
      const n = this.interest.get(uri);
      if (n === undefined) continue;
      if (n > 1) this.interest.set(uri, n - 1);
      else {
        this.interest.delete(uri);
        gone.push(uri);
      }
    }
    if (!gone.length || this.stopped || this.health !== 'healthy') return;
    void this.control.get().then(
      (link) => {
        if (link.era === 'modern') return this.startListen(link);
        for (const uri of gone) void link.call('resources/unsubscribe', { uri }, { sink: NULL_SINK, signal: this.abort.signal });
      },
      () => undefined,
    );
  }

  /**
   * Derives each tool's `x-mcp-header` map once per catalogue read; a tool whose annotations
   * are invalid is dropped from the list (spec 2026-07-28, transports: MUST drop, SHOULD warn).
   */
  private withParamMaps(link: UpstreamLink, tools: UpstreamLists['tools']): UpstreamLists['tools'] {
    const maps = new Map<string, Map<string, string[]>>();
    const kept = tools.filter((t) => {
      const m = headerParamMap(t.inputSchema);
      if (!(m instanceof Map)) {
        this.log.warn({ upstream: this.name, tool: String(t.name).slice(0, 128), reason: m.error }, 'catalog.tool_dropped');
        return false;
      }
      if (m.size && typeof t.name === 'string') maps.set(t.name, m);
      return true;
    });
    const setter = (link as { setToolParamMaps?: (m: Map<string, Map<string, string[]>>) => void }).setToolParamMaps;
    setter?.call(link, maps);
    return kept;
  }

  private setHealth(h: Health, reason: string): void {
    const changed = h !== this.health;
    this.health = h;
    this.healthReason = reason;
    if (!changed) return;
    if (h === 'healthy') this.guard.breaker.reset();
    this.log.info({ upstream: this.name, health: h, reason }, 'upstream.health');
    this.events.onHealth?.(this.name, h, reason);
    this.store.upstreamEvents.append({ upstream: this.name, at: new Date(), state: h, reason }).catch(() => undefined);
    if (h !== 'healthy') this.events.onCatalogChange();
  }
}

/** Hands new deadlines to a live link (every link kind is an RpcPeer; a link without the method keeps its own). */
function applyTimeouts(link: UpstreamLink, t: PeerTimeouts): void {
  (link as { setTimeouts?: (t: PeerTimeouts) => void }).setTimeouts?.(t);
}
