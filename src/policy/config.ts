/**
 * The `policy` section: tool-level authorization rules (docs/policy.md). With the section present
 * the gateway is default deny; without it, there is no policy stage at all.
 */
import { z } from 'zod';
import { ArgumentGuards } from '../arguments/config.js';

/** Longest CEL condition accepted, in UTF-16 code units (bounded parse cost). */
export const MAX_WHEN_LENGTH = 2000;
/** Most rules one config (or one tenant's stored set) may hold. */
export const MAX_RULES = 10_000;

const RULE_ID_RE = /^[a-zA-Z0-9_.-]{1,64}$/;
const name = z.string().min(1).max(256);
const list = (what: string) => z.array(name).min(1).max(256).optional().describe(what);

export const PolicyRule = z
  .object({
    id: z.string().regex(RULE_ID_RE).describe('Unique rule id (`[a-zA-Z0-9_.-]{1,64}`); named in decisions, errors and logs.'),
    effect: z.enum(['allow', 'deny', 'require_approval']).describe('What a match means. Among enforced matching rules deny wins, then require_approval, then allow; no match is deny.'),
    mode: z.enum(['enforce', 'shadow']).default('enforce').describe('`shadow`: evaluated and logged (`policy.shadow`), never enforced.'),
    reason: z.string().max(512).optional().describe('Shown to the caller on refusal and recorded.'),
    tenants: list('Principal tenant is one of these. Omitted: any tenant.'),
    roles: list('Principal has any of these roles. Omitted: any.'),
    groups: list('Principal is in any of these groups. Omitted: any.'),
    subjects: list('Globs (`*`, `?`) over the principal subject. Omitted: any.'),
    clients: list('Principal client id is one of these. Omitted: any.'),
    claims: z
      .record(z.string().min(1).max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.array(z.string().max(256)).min(1).max(64)]))
      .optional()
      .describe('Token claims that must all match: a claim equals the value, or (for a list of values) any of them; a list-valued claim matches when it contains the value. API keys carry no claims, so they never match. Omitted: any.'),
    servers: list('Endpoint names (`default` is /mcp, else a virtual server name). Omitted: any.'),
    upstreams: list('Upstream names. Omitted: any.'),
    tools: list('Globs over the tool catalogue name (prefix + separator + name) or the name the endpoint exposes.'),
    prompts: list('Globs over prompt names (as for tools). A rule naming prompts or resources but not tools does not apply to tools.'),
    resources: list('Globs over resource URIs (and resource template URI templates, for listing).'),
    tags: list('Upstream tags; the upstream must carry all of them.'),
    annotations: z
      .record(z.string().min(1).max(64), z.union([z.boolean(), z.string().max(256), z.number()]))
      .optional()
      .describe('Tool annotations that must all equal these values. Only on deny/require_approval rules: annotations are upstream hints and never relax a rule.'),
    when: z.string().min(1).max(MAX_WHEN_LENGTH).optional().describe('CEL condition over `args`, `principal`, `tool`, `time`. An evaluation error means no match for allow rules and a match for deny/require_approval rules (fail closed).'),
    guards: ArgumentGuards.optional().describe('Only on allow rules: argument guards checked on every call this rule allows.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.annotations !== undefined && r.effect === 'allow') {
      ctx.addIssue({ code: 'custom', path: ['annotations'], message: 'annotations may only tighten policy: use them on deny or require_approval rules' });
    }
    if (r.guards !== undefined && r.effect !== 'allow') ctx.addIssue({ code: 'custom', path: ['guards'], message: 'guards only belong on allow rules' });
  })
  .describe('One authorization rule.');

export type PolicyRuleT = z.infer<typeof PolicyRule>;

export const PolicyConfig = z
  .object({
    rules: z.array(PolicyRule).max(MAX_RULES).default([]).describe('Rules evaluated together with rules added through the admin API. Default deny.'),
  })
  .strict()
  .optional()
  .describe('Tool-level authorization rules (docs/policy.md). Absent: every principal may call every tool it can see. Present: default deny.');

export type PolicyConfigT = z.infer<typeof PolicyConfig>;
