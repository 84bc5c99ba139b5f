/**
 * The limiter service (one per gateway process, on the Runtime): finds the rules a call
 * matches, builds one key per rule, and asks the configured store. Memory answers
 * synchronously, so the common path costs no Promise; Redis answers with one.
 *
 * State is keyed by each rule's id, which depends only on that rule's config: a hot reload
 * keeps the buckets of unchanged rules. The Redis client follows the snapshot's URL.
 */
import type { Logger } from '../observability/logger.js';
import type { CallContext } from '../pipeline/context.js';
import { GatewayError } from '../pipeline/errors.js';
import type { Route } from '../stages/route/route.js';
import type { CompiledRateLimits, CompiledRedis, CompiledRule } from '../stages/rate-limit/compile.js';
import { MemoryCounters } from './memory.js';
import { RedisCounters } from './redis.js';
import type { Refusal } from './verdict.js';

/** Separates key parts; a control character no tenant, subject or tool name legitimately holds. */
const SEP = '\u001f';

/** Retry hint when Redis is down and the call is refused (fail closed). */
const UNAVAILABLE_RETRY_MS = 1000;

export interface Limiter {
  /** Throws (memory) or rejects (redis) with ERR_RATE_LIMITED / ERR_QUOTA_EXCEEDED when over a limit. */
  check(rl: CompiledRateLimits, ctx: CallContext, r: Route): void | Promise<void>;
  close(): Promise<void>;
}

/** The value of one key dimension for this call ('' when the call has none, e.g. no tool). */
function dimension(d: CompiledRule['by'][number], ctx: CallContext, upstream: string, target: string): string {
  switch (d) {
    case 'tenant':
      return ctx.principal.tenant;
    case 'principal':
      // A subject is unique only within its tenant.
      return ctx.principal.tenant + SEP + ctx.principal.subject;
    case 'server':
      return ctx.view.name;
    case 'upstream':
      return upstream;
    case 'tool':
      return target;
  }
}

/** The bucket key of a call under one rule: rule id, then the rule's dimensions in order. */
export function keyOf(rule: CompiledRule, ctx: CallContext, upstream: string, target: string): string {
  let key = rule.id;
  for (const d of rule.by) key += SEP + dimension(d, ctx, upstream, target);
  return key;
}

/**
 * True when the call falls under the rule's filters. `tools` globs see the exposed name and, for a
 * tool a virtual server renamed, its catalogue name (`catalogName`), as policy does: a renamed
 * endpoint is no way around a limit.
 */
export function matches(rule: CompiledRule, method: string, ctx: CallContext, upstream: string | undefined, target: string | undefined, catalogName?: string): boolean {
  if (!rule.methods.has(method)) return false;
  if (rule.tenants && !rule.tenants.has(ctx.principal.tenant)) return false;
  if (rule.servers && !rule.servers.has(ctx.view.name)) return false;
  if (rule.upstreams && (upstream === undefined || !rule.upstreams.has(upstream))) return false;
  if (rule.tools && (target === undefined || !(rule.tools(target) || (catalogName !== undefined && rule.tools(catalogName))))) return false;
  return true;
}

/** The error a refused call gets; `data.retryAfterMs` is what HTTP's Retry-After is made from. */
export function refusalError(r: Refusal): GatewayError {
  const secs = Math.ceil(r.retryAfterMs / 1000);
  return r.kind === 'quota'
    ? new GatewayError('ERR_QUOTA_EXCEEDED', `Quota "${r.rule}" exhausted; retry in ${secs}s`, { data: { retryAfterMs: r.retryAfterMs, rule: r.rule } })
    : new GatewayError('ERR_RATE_LIMITED', `Rate limit "${r.rule}" exceeded; retry in ${secs}s`, { data: { retryAfterMs: r.retryAfterMs, rule: r.rule } });
}

export function createLimiter(log: Logger, initial?: CompiledRateLimits): Limiter {
  const memory = new MemoryCounters(Date.now, (n) => log.warn({ evicted: n }, 'ratelimit.keys_evicted'));
  let redis: RedisCounters | undefined;

  const redisFor = (cfg: CompiledRedis): RedisCounters => {
    if (redis && redis.url === cfg.url && redis.timeoutMs === cfg.timeoutMs) return redis;
    const old = redis;
    redis = new RedisCounters(cfg, log);
    void old?.close();
    return redis;
  };
  // Connect early so the first limited call does not pay for the handshake.
  if (initial?.enabled && initial.store === 'redis' && initial.redis) redisFor(initial.redis);

  return {
    check(rl, ctx, r) {
      const method = ctx.request.method;
      const upstream = r.kind === 'upstream' ? r.upstream : undefined;
      const entry = r.kind === 'upstream' ? r.target : undefined;
      const target = entry?.exposed;
      // Set only when a virtual server's rename applied: buckets keyed by tool use the catalogue
      // name, so every endpoint that exposes the tool shares them.
      const catalogName = entry?.catalogName;
      let rules: CompiledRule[] | undefined;
      let keys: string[] | undefined;
      for (const rule of rl.rules) {
        if (!matches(rule, method, ctx, upstream, target, catalogName)) continue;
        (rules ??= []).push(rule);
        (keys ??= []).push(keyOf(rule, ctx, upstream ?? '', catalogName ?? target ?? ''));
      }
      if (!rules || !keys) return;
      const cost = method === 'tools/call' && target !== undefined ? rl.cost(target, catalogName) : 1;
      if (cost === 0) return;
      if (rl.store === 'redis' && rl.redis) {
        const cfg = rl.redis;
        const prefixed = keys.map((k) => cfg.keyPrefix + k);
        return redisFor(cfg)
          .take(rules, prefixed, cost)
          .then((v) => {
            if (v === undefined) return;
            if (v !== 'unavailable') throw refusalError(v);
            if (cfg.onUnavailable === 'allow') return;
            throw new GatewayError('ERR_OVERLOADED', 'Rate-limit store unavailable', { data: { retryAfterMs: UNAVAILABLE_RETRY_MS } });
          });
      }
      if (redis !== undefined) {
        // The store went back to memory on a reload: stop reconnecting to a Redis no longer used.
        void redis.close();
        redis = undefined;
      }
      const v = memory.take(rules, keys, cost);
      if (v) throw refusalError(v);
    },
    async close() {
      await memory.close();
      await redis?.close();
      redis = undefined;
    },
  };
}
