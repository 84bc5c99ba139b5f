/**
 * Argument guards, compiled once per snapshot by the policy (one `CompiledGuards` per allow rule
 * that has `guards`), and checked by the filter-in stage on every call those rules allow.
 */
import { compileGlob, type GlobMatcher } from '../config/glob.js';
import { GatewayError } from '../pipeline/errors.js';
import type { ArgumentGuardsConfig } from './config.js';
import { hasControlChar, hasDotDot, insideRoots, normaliseRoot, startsWithDash } from './guards.js';

/** Deeper arguments are refused outright: the walk is bounded, and no real tool needs more. */
export const MAX_GUARD_DEPTH = 64;

export type GuardName = 'noLeadingDash' | 'noDotDot' | 'roots' | 'noControlChars' | 'maxStringLength' | 'maxArrayLength' | 'maxDepth';

export interface CompiledGuards {
  /** The rule's guards as configured (for audit and debugging). */
  readonly config: ArgumentGuardsConfig;
  readonly noLeadingDash: boolean;
  readonly noDotDot: boolean;
  readonly noControlChars: boolean;
  /** Infinity when unset. */
  readonly maxStringLength: number;
  readonly maxArrayLength: number;
  /** Normalised roots, or undefined when `roots` is not set. */
  readonly roots: readonly string[] | undefined;
  /** Selects the top-level argument names that `roots` applies to (case-insensitive: `repoPath`, `TargetDir`). */
  readonly pathArg: GlobMatcher;
  /** False when no guard is on: the check is skipped without walking the arguments. */
  readonly active: boolean;
}

/** A refused argument: which guard, and the JSON Pointer of the value (never the value itself). */
export interface GuardViolation {
  guard: GuardName;
  argument: string;
}

export function compileGuards(cfg: ArgumentGuardsConfig): CompiledGuards {
  const roots = cfg.roots?.map(normaliseRoot);
  const maxStringLength = cfg.maxStringLength ?? Infinity;
  const maxArrayLength = cfg.maxArrayLength ?? Infinity;
  // Names are matched case-insensitively (lower-cased on both sides): `*path*` must select
  // `repoPath` and `FilePath` too, or a camel-cased path argument escapes `roots`.
  const pathGlob = compileGlob(cfg.pathArgs.map((p) => p.toLowerCase()));
  return Object.freeze({
    config: cfg,
    noLeadingDash: cfg.noLeadingDash,
    noDotDot: cfg.noDotDot,
    noControlChars: cfg.noControlChars,
    maxStringLength,
    maxArrayLength,
    roots: roots ? Object.freeze(roots) : undefined,
    pathArg: (name: string) => pathGlob(name.toLowerCase()),
    active: cfg.noLeadingDash || cfg.noDotDot || cfg.noControlChars || roots !== undefined || maxStringLength !== Infinity || maxArrayLength !== Infinity,
  });
}

/** JSON Pointer (RFC 6901) of the walk position, built only when something is refused. */
function pointer(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += `/${String(p).replaceAll('~', '~0').replaceAll('/', '~1')}`;
  return out.length > 512 ? `${out.slice(0, 509)}...` : out;
}

function stringGuard(g: CompiledGuards, s: string, isKey: boolean): GuardName | undefined {
  if (s.length > g.maxStringLength) return 'maxStringLength';
  if (g.noControlChars && hasControlChar(s)) return 'noControlChars';
  if (isKey) return undefined;
  if (g.noLeadingDash && startsWithDash(s)) return 'noLeadingDash';
  if (g.noDotDot && hasDotDot(s)) return 'noDotDot';
  return undefined;
}

/**
 * Walks one value. `underPath` is true inside a top-level argument that `pathArgs` names, where
 * every string must also lie inside `roots`.
 */
function walk(g: CompiledGuards, v: unknown, path: (string | number)[], underPath: boolean): GuardName | undefined {
  if (typeof v === 'string') {
    const bad = stringGuard(g, v, false);
    if (bad) return bad;
    if (underPath && g.roots && !insideRoots(v, g.roots)) return 'roots';
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  if (path.length >= MAX_GUARD_DEPTH) return 'maxDepth';
  if (Array.isArray(v)) {
    if (v.length > g.maxArrayLength) return 'maxArrayLength';
    for (let i = 0; i < v.length; i++) {
      path.push(i);
      const bad = walk(g, v[i], path, underPath);
      if (bad) return bad;
      path.pop();
    }
    return undefined;
  }
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    path.push(k);
    const bad = stringGuard(g, k, true) ?? walk(g, (v as Record<string, unknown>)[k], path, underPath || (path.length === 1 && g.roots !== undefined && g.pathArg(k)));
    if (bad) return bad;
    path.pop();
  }
  return undefined;
}

/** The first argument any of `guards` refuses, or undefined when all pass. Exported for tests. */
export function findGuardViolation(guards: readonly CompiledGuards[], args: Record<string, unknown>): GuardViolation | undefined {
  for (const g of guards) {
    if (!g.active) continue;
    const path: (string | number)[] = [];
    const guard = walk(g, args, path, false);
    if (guard) return { guard, argument: pointer(path) };
  }
  return undefined;
}

/** Throws ERR_ARGUMENT_GUARD (data: guard, argument) when any guard refuses the arguments. */
export function checkGuards(guards: readonly CompiledGuards[], args: Record<string, unknown>): void {
  const v = findGuardViolation(guards, args);
  if (v) throw new GatewayError('ERR_ARGUMENT_GUARD', `Argument ${v.argument || '(root)'} refused by guard ${v.guard}`, { data: { guard: v.guard, argument: v.argument } });
}
