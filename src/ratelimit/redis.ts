/**
 * Shared counters in Redis, so every gateway process using the same Redis and key prefix
 * enforces one limit. One Lua script checks every matching rule and consumes from all of them
 * only if all have room (atomic, like the memory store), on Redis's own clock so processes
 * with skewed clocks still agree. Keys expire once a bucket would be full again or its quota
 * window has ended, so Redis holds only live state.
 *
 * Every call is bounded: it waits at most `timeoutMs` for a connection and for the answer;
 * past that the store reports `unavailable` and the limiter applies `onUnavailable`.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { CompiledRedis, CompiledRule } from '../stages/rate-limit/compile.js';
import type { Refusal } from './verdict.js';

/** Per key: ARGV[o+1..o+4] = capacity, ms per token, quota limit, quota window ms (0: none). */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cost = tonumber(ARGV[1])
local n = #KEYS
local rateWait, rateIdx, quotaWait, quotaIdx = -1, 0, -1, 0
local tok, win, used = {}, {}, {}
for i = 1, n do
  local o = 1 + (i - 1) * 4
  local cap, mpt = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2])
  local lim, wms = tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4])
  local v = redis.call('HMGET', KEYS[i], 't', 'a', 'w', 'u')
  if cap > 0 then
    local tokens, at = tonumber(v[1]), tonumber(v[2])
    if tokens == nil or at == nil then tokens = cap
    elseif now > at then tokens = math.min(cap, tokens + (now - at) / mpt) end
    tok[i] = tokens
    local need = math.min(cost, cap)
    if tokens < need then
      local w = (need - tokens) * mpt
      if w > rateWait then rateWait = w; rateIdx = i end
    end
  end
  if lim > 0 then
    local w = math.floor(now / wms)
    local u = 0
    if tonumber(v[3]) == w then u = tonumber(v[4]) or 0 end
    win[i] = w
    used[i] = u
    if u + cost > lim then
      local wait = (w + 1) * wms - now
      if wait > quotaWait then quotaWait = wait; quotaIdx = i end
    end
  end
end
if quotaIdx > 0 then return {2, quotaIdx, math.ceil(quotaWait)} end
if rateIdx > 0 then return {1, rateIdx, math.ceil(rateWait)} end
for i = 1, n do
  local o = 1 + (i - 1) * 4
  local cap, mpt = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2])
  local lim, wms = tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4])
  local ttl = 1000
  if cap > 0 then
    local left = tok[i] - cost
    redis.call('HSET', KEYS[i], 't', tostring(left), 'a', string.format('%.3f', now))
    ttl = math.max(ttl, math.ceil((cap - left) * mpt) + 1000)
  end
  if lim > 0 then
    redis.call('HSET', KEYS[i], 'w', string.format('%d', win[i]), 'u', tostring(used[i] + cost))
    ttl = math.max(ttl, math.ceil((win[i] + 1) * wms - now) + 1000)
  end
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return {0, 0, 0}
`;

type TakeCommand = (numKeys: number, ...args: (string | number)[]) => Promise<[number, number, number]>;

export class RedisCounters {
  readonly url: string;
  readonly timeoutMs: number;
  private readonly client: Redis;
  private down = false;
  private connected: Promise<void> | undefined;

  constructor(cfg: CompiledRedis, private readonly log: Logger) {
    this.url = cfg.url;
    this.timeoutMs = cfg.timeoutMs;
    this.client = new Redis(cfg.url, {
      // Never queue a call behind a dead connection: fail at once and let onUnavailable decide.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: cfg.timeoutMs,
      connectTimeout: Math.max(1000, cfg.timeoutMs),
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    });
    this.client.defineCommand('pclTake', { lua: TAKE });
    // The URL may carry a password: log neither it nor anything derived from it.
    this.client.on('error', (e: Error) => this.markDown(e));
    this.client.on('ready', () => {
      if (this.down) this.log.info('ratelimit.redis_recovered');
      this.down = false;
    });
  }

  /** A refusal, undefined when within limits, or 'unavailable' when Redis did not answer in time. */
  async take(rules: readonly CompiledRule[], keys: readonly string[], cost: number): Promise<Refusal | undefined | 'unavailable'> {
    try {
      if (this.client.status !== 'ready') await this.ready();
      const args: (string | number)[] = [cost];
      for (const r of rules) args.push(r.rate?.capacity ?? 0, r.rate?.msPerToken ?? 0, r.quota?.limit ?? 0, r.quota?.windowMs ?? 0);
      const take = (this.client as unknown as { pclTake: TakeCommand }).pclTake.bind(this.client);
      const [code, idx, wait] = await take(keys.length, ...keys, ...args);
      if (code === 0) return undefined;
      return { kind: code === 2 ? 'quota' : 'rate', rule: rules[idx - 1]?.name ?? '', retryAfterMs: Math.max(1, wait) };
    } catch (e) {
      this.markDown(e);
      return 'unavailable';
    }
  }

  private markDown(e: unknown): void {
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'ratelimit.redis_unavailable');
  }

  /** Resolves when connected; rejects after timeoutMs (a call never waits longer for Redis). */
  private ready(): Promise<void> {
    const status = this.client.status;
    if (status === 'end' || status === 'close') return Promise.reject(new Error(`redis connection ${status}`));
    // One listener for every waiting call, however many there are.
    this.connected ??= new Promise<void>((resolve) => {
      this.client.once('ready', () => {
        this.connected = undefined;
        resolve();
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis not ready in time')), this.timeoutMs);
    });
    return Promise.race([this.connected, late]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
