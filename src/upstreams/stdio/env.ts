/**
 * The environment a stdio upstream runs with (security checklist D1, mcp-protocol.md §7): the
 * gateway's own environment holds its secrets (database URLs, signing keys, upstream tokens), so a
 * child inherits nothing by default — only the variables the admin allowlisted, plus the explicit
 * ones from its config entry.
 */

/**
 * Builds a child's environment from scratch.
 * @param allowlist names of parent variables passed through when set (exact, case-sensitive).
 * @param explicit variables set for the child; they win over allowlisted parent values.
 * @param parentEnv the gateway's environment (normally `process.env`).
 */
export function buildChildEnv(
  allowlist: readonly string[],
  explicit: Readonly<Record<string, string>>,
  parentEnv: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  // A null-prototype object so that a variable named like an Object.prototype member
  // ("constructor", "__proto__") is an ordinary key, never a prototype lookup.
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of allowlist) {
    if (!Object.prototype.hasOwnProperty.call(parentEnv, name)) continue;
    const v = parentEnv[name];
    if (typeof v === 'string') env[name] = v;
  }
  for (const [k, v] of Object.entries(explicit)) env[k] = v;
  return { ...env };
}
