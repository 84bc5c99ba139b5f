/**
 * The `rateLimits` section: token-bucket rates and fixed-window quotas, keyed by any mix of
 * tenant, principal, virtual server, upstream and tool, kept in memory (one process) or in
 * Redis (shared by every gateway process). Semantics live in docs/rate-limits.md.
 */
import { z } from 'zod';
import { TimerDuration } from '../../config/primitives.js';

/** "100/1m": a count per window; the window unit is ms, s, m, h or d (a bare unit means 1 of it). */
export const RATE_PATTERN = /^(\d{1,9})\s*\/\s*(\d{0,9})(ms|s|m|h|d)$/;

const Rate = z
  .string()
  .regex(RATE_PATTERN, 'rate like 100/1m, 10/s or 5000/1d')
  .describe('A count per window, e.g. "100/1m", "10/s", "5000/1d".');

/** The dimensions a bucket can be keyed by. */
export const DIMENSIONS = ['tenant', 'principal', 'server', 'upstream', 'tool'] as const;

/** Methods a rule counts when it does not list its own. */
export const DEFAULT_METHODS = ['tools/call', 'prompts/get', 'resources/read'] as const;

const Name = z.string().min(1).max(256);

const RuleMatch = z
  .object({
    tenants: z.array(Name).max(256).optional().describe('Only calls by principals of these tenants (default: every tenant).'),
    servers: z.array(Name).max(256).optional().describe('Only calls through these virtual servers; the plain /mcp endpoint is "default" (default: every endpoint).'),
    upstreams: z.array(Name).max(256).optional().describe('Only calls answered by these upstreams (default: every upstream, and gateway-answered methods).'),
    tools: z
      .array(Name)
      .max(256)
      .optional()
      .describe('Only calls naming a tool or prompt matching one of these globs (`*`, `?`), by the name clients see or, for a tool a virtual server renamed, its catalogue name, e.g. "git__*" (default: any call).'),
    methods: z
      .array(Name)
      .min(1)
      .max(64)
      .optional()
      .describe('JSON-RPC methods this rule counts (default: tools/call, prompts/get, resources/read). List others, e.g. tools/list or ping, to limit them too.'),
  })
  .strict()
  .describe('Filters: a call counts against the rule only when it matches every filter given.');

const Rule = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, _ . : - (at most 64)')
      .describe('Rule name, unique; reported in the error data of a refused call.'),
    by: z
      .array(z.enum(DIMENSIONS))
      .max(DIMENSIONS.length)
      .default([])
      .describe('Dimensions forming the bucket key: tenant, principal (a subject within its tenant), server, upstream, tool. Empty: one bucket shared by every matching call.'),
    match: RuleMatch.prefault({}),
    rate: Rate.optional().describe('Sustained rate of a token bucket, e.g. "100/1m" (refilled continuously).'),
    burst: z
      .number()
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe('Bucket capacity: how many calls may arrive at once before the sustained rate applies (default: the count of `rate`).'),
    quota: Rate.optional().describe('A fixed-window quota, e.g. "10000/1d"; windows are aligned to the Unix epoch (a day ends at 00:00 UTC).'),
  })
  .strict()
  .describe('One limit. A rule with `rate` is a token bucket, with `quota` a fixed-window counter; a rule may have both.');

const Redis = z
  .object({
    url: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'redis://host:port or rediss://host:port')
      .describe('Redis URL (redis:// or rediss://); may carry credentials — use ${ENV} interpolation rather than writing them in the file.'),
    keyPrefix: z
      .string()
      .min(1)
      .max(64)
      .default('pcl:rl:')
      .describe('Prefix of every key the limiter writes, so several gateways (or tests) can share one Redis.'),
    timeout: TimerDuration.default('250ms').describe('Longest a call waits for Redis (connecting or answering) before the limiter gives up on it.'),
    onUnavailable: z
      .enum(['deny', 'allow'])
      .default('deny')
      .describe('When Redis cannot answer in time: deny the call (503, ERR_OVERLOADED; fail closed) or let it through uncounted.'),
  })
  .strict()
  .describe('The shared store, used when `store: redis`.');

export const RateLimitsConfig = z
  .object({
    store: z
      .enum(['memory', 'redis'])
      .default('memory')
      .describe('Where counters live: memory (this process only) or redis (shared by every gateway process using the same Redis and keyPrefix).'),
    redis: Redis.optional(),
    rules: z.array(Rule).max(64).default([]).describe('Limits; a call must be within every rule that matches it.'),
    costs: z
      .record(z.string().min(1).max(256), z.number().int().min(0).max(1_000_000))
      .default({})
      .describe('Tool glob → weight a tools/call takes from every matching bucket and quota (default 1; the first matching glob in file order wins; 0 makes a tool free).'),
  })
  .strict()
  .prefault({})
  .describe('Rate limits and quotas (docs/rate-limits.md).');

export type RateLimitsConfigT = z.infer<typeof RateLimitsConfig>;
export type RateLimitRuleT = z.infer<typeof Rule>;
