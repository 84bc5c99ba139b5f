/**
 * StdioLink: one MCP connection over a child process's stdin/stdout (spec 2025-11-25 and
 * 2026-07-28, basic/transports/stdio). stdio is multiplexed — every call shares one pipe — so all
 * routing (ids, progress tokens, server requests) is the RpcPeer's; this file owns only the
 * process, the framing and the era handshake (mcp-protocol.md §2.2).
 */
import { GatewayError } from '../../pipeline/errors.js';
import { RpcCode, isObject, toMessage, type CallOutcome, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import type { Logger } from '../../observability/logger.js';
import { RpcPeer, type PendingCall, type PeerTimeouts } from '../peer.js';
import { buildChildEnv } from './env.js';
import { NdjsonWriter, readNdjson, type FramingError } from './framing.js';
import { spawnStdioProcess, type StdioProcess } from './process.js';

/** Everything a stdio link needs, independent of the config compiler's types. */
export interface StdioLinkConfig {
  name: string;
  command: string;
  args: string[];
  /** Absolute working directory. */
  cwd: string;
  env: Record<string, string>;
  envAllowlist: string[];
  maxLineBytes: number;
  timeouts: PeerTimeouts;
}

export interface OpenStdioOptions {
  /** auto: server/discover, then initialize; legacy: initialize only; modern: discover, no fallback. */
  era?: 'auto' | 'legacy' | 'modern';
  /** Grace between EOF, SIGTERM and SIGKILL when the link closes. Default 2000 ms. */
  graceMs?: number;
  /** Largest stdin backlog while the child is not reading. Default: max(1 MB, 2 × maxLineBytes). */
  maxWriteQueueBytes?: number;
  /** Parent environment for the allowlist (tests). Default `process.env`. */
  parentEnv?: Record<string, string | undefined>;
}

/** Longest the modern probe may take before we assume a legacy server that ignores it. */
const PROBE_CAP_MS = 3000;
/** Modern error codes that identify a modern server even when it refuses the probe (§2.2). */
const MODERN_ERRORS = new Set<number>([RpcCode.UnsupportedProtocolVersion, RpcCode.MissingRequiredClientCapability, RpcCode.HeaderMismatch]);
/** Noise from stdout (invalid lines, stray logs) logged per second at most. */
const NOISE_PER_SECOND = 10;

export class StdioLink extends RpcPeer {
  private readonly writer: NdjsonWriter;
  private lastHandshake: CallOutcome | undefined;
  private noiseWindow = 0;
  private noiseCount = 0;

  /** @internal use openStdioLink */
  constructor(
    private readonly cfg: StdioLinkConfig,
    private readonly log: Logger,
    readonly proc: StdioProcess,
    private readonly mutableTimeouts: PeerTimeouts,
    private readonly graceMs: number,
    maxWriteQueueBytes: number,
  ) {
    super(cfg.name, mutableTimeouts);
    this.writer = new NdjsonWriter(proc.child.stdin, maxWriteQueueBytes);
    readNdjson(proc.child.stdout, cfg.maxLineBytes, {
      onValue: (v) => this.onValue(v),
      onError: (e) => this.onFramingError(e),
    });
    void proc.exited.then((x) => {
      // Let stdout drain first: a server's last answer may arrive just before it exits.
      const closeNow = (): void =>
        this.markClosed(x.error ? `spawn failed: ${x.error.message}` : `exited code=${x.code} signal=${x.signal}`);
      if (x.error || proc.child.stdout.readableEnded) closeNow();
      else {
        const t = setTimeout(closeNow, 200);
        t.unref();
        proc.child.stdout.once('end', () => {
          clearTimeout(t);
          closeNow();
        });
      }
    });
  }

  /** Pid of the child process (undefined if it never started). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  protected transmit(msg: JsonRpcMessage, call?: PendingCall): void {
    // A stdio server has no headers: W3C trace context travels in the request's _meta (modern
    // requests already carry it from stampModern).
    const tp = call?.opts?.traceparent;
    if (tp !== undefined && this.era !== 'modern' && 'method' in msg) {
      const params = msg.params ?? {};
      msg = { ...msg, params: { ...params, _meta: { ...(isObject(params._meta) ? params._meta : {}), traceparent: tp } } };
    }
    try {
      this.writer.write(msg);
    } catch (e) {
      // A request fails its own call (the peer turns this into an error outcome); a notification
      // or a response to the server has no caller to tell, and must not throw out of a timer.
      if (call) throw e;
      this.log.warn({ upstream: this.cfg.name, pid: this.pid, method: 'method' in msg ? msg.method : undefined, err: (e as Error).message }, 'stdio message dropped');
    }
  }

  protected async shutdown(): Promise<void> {
    await this.proc.stop(this.graceMs);
  }

  protected override handshakeRequest(method: string, params: Record<string, unknown> | undefined): Promise<CallOutcome> {
    return super.handshakeRequest(method, params).then((o) => {
      this.lastHandshake = o;
      return o;
    });
  }

  /** Runs the handshake for the requested era; throws a GatewayError when it fails. */
  async handshake(era: 'auto' | 'legacy' | 'modern'): Promise<void> {
    if (era !== 'legacy') {
      // The probe gets a short deadline: a legacy server may ignore an unknown request before
      // initialize instead of answering it, and we must not spend the whole connect budget.
      const connectMs = this.mutableTimeouts.connectMs;
      this.mutableTimeouts.connectMs = era === 'auto' ? Math.min(connectMs, PROBE_CAP_MS) : connectMs;
      let verdict: 'modern' | 'legacy';
      try {
        verdict = await this.discoverModern();
      } finally {
        this.mutableTimeouts.connectMs = connectMs;
      }
      if (verdict === 'modern') return;
      const o = this.lastHandshake;
      if (o && 'error' in o && MODERN_ERRORS.has(o.error.code)) {
        throw new GatewayError('ERR_UPSTREAM_PROTOCOL', `Modern upstream refused server/discover: ${o.error.message}`, { detail: { code: o.error.code } });
      }
      if (era === 'modern') throw new GatewayError('ERR_UPSTREAM_PROTOCOL', 'Upstream did not answer server/discover as a modern server');
      this.throwIfClosed();
    }
    if (!(await this.initializeLegacy())) {
      this.throwIfClosed();
      const o = this.lastHandshake;
      const why = o && 'error' in o ? o.error.message : 'no valid InitializeResult';
      throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Upstream initialize failed: ${why}`);
    }
  }

  private throwIfClosed(): void {
    const o = this.lastHandshake;
    if (this.closed) throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', o && 'error' in o ? o.error.message : 'Upstream process exited during the handshake');
  }

  private onValue(v: unknown): void {
    const msg = toMessage(v);
    if (typeof msg === 'string') {
      this.noise({ reason: msg }, 'stdio upstream sent a non-JSON-RPC line');
      return;
    }
    if ('method' in msg && msg.method === 'notifications/message' && this.inFlight !== 1) {
      // The peer drops a log it cannot attribute to one call; keep it in the gateway log instead.
      const p = isObject(msg.params) ? msg.params : {};
      this.noise({ level: p.level, logger: p.logger }, 'unattributed upstream log message');
    }
    this.deliver(msg);
  }

  private onFramingError(e: FramingError): void {
    if (e.kind === 'oversize') this.noise({ limit: e.limit }, 'stdio upstream line over maxLineBytes: discarded');
    else this.noise({ preview: e.preview.slice(0, 120) }, 'stdio upstream line is not JSON: skipped');
  }

  /** Logs stdout noise at most NOISE_PER_SECOND times a second, so a broken server cannot flood the log. */
  private noise(fields: Record<string, unknown>, text: string): void {
    const now = Date.now();
    if (now - this.noiseWindow >= 1000) {
      this.noiseWindow = now;
      this.noiseCount = 0;
    }
    if (++this.noiseCount > NOISE_PER_SECOND) return;
    this.log.warn({ upstream: this.cfg.name, pid: this.pid, ...fields }, text);
  }
}

/**
 * Spawns a stdio upstream and completes its handshake. Rejects with a GatewayError (and leaves no
 * process behind) when the process cannot start or does not speak MCP within the connect timeout.
 */
export async function openStdioLink(cfg: StdioLinkConfig, log: Logger, opts: OpenStdioOptions = {}): Promise<StdioLink> {
  const env = buildChildEnv(cfg.envAllowlist, cfg.env, opts.parentEnv ?? process.env);
  let proc: StdioProcess;
  try {
    proc = spawnStdioProcess({ name: cfg.name, command: cfg.command, args: cfg.args, cwd: cfg.cwd, env, log });
  } catch (e) {
    throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `Cannot spawn stdio upstream ${cfg.name}: ${(e as Error).message}`, { cause: e });
  }
  const graceMs = opts.graceMs ?? 2000;
  const link = new StdioLink(cfg, log, proc, { ...cfg.timeouts }, graceMs, opts.maxWriteQueueBytes ?? Math.max(1 << 20, 2 * cfg.maxLineBytes));
  try {
    await link.handshake(opts.era ?? 'auto');
  } catch (e) {
    await link.close();
    if (e instanceof GatewayError) throw e;
    throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', `stdio upstream ${cfg.name} failed to start`, { cause: e });
  }
  log.info({ upstream: cfg.name, pid: link.pid, era: link.era, protocolVersion: link.info.protocolVersion }, 'stdio upstream ready');
  return link;
}
