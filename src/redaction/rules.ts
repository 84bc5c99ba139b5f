/** The rule sets, chosen by the options. */
import { PII_RULES } from './pii.js';
import { SECRET_RULES } from './secrets.js';
import type { Rule } from './types.js';

const BOTH: readonly Rule[] = [...SECRET_RULES, ...PII_RULES];

export function rulesFor(secrets: boolean, pii: boolean): readonly Rule[] {
  if (secrets && pii) return BOTH;
  if (secrets) return SECRET_RULES;
  if (pii) return PII_RULES;
  return [];
}

/** Rule names (a rule name may cover several scanners, e.g. IPv4 and IPv6 are both `ip-address`). */
export const SECRET_RULE_NAMES: readonly string[] = [...new Set(SECRET_RULES.map((r) => r.name))];
export const PII_RULE_NAMES: readonly string[] = [...new Set(PII_RULES.map((r) => r.name))];

/** A rule set for callers that need less than everything (tests, later: per-route configuration). */
export function selectRules(o: { secrets?: boolean; pii?: boolean; exclude?: readonly string[] } = {}): readonly Rule[] {
  const base = rulesFor(o.secrets !== false, o.pii !== false);
  const ex = o.exclude;
  return ex && ex.length > 0 ? base.filter((r) => !ex.includes(r.name)) : base;
}
