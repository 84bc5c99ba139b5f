/**
 * Whether a process group still has a live member: after a stdio upstream's leader exits, what
 * it started in its group (a wrapper's real server, a helper) is reaped too (security checklist
 * D1). `kill(-pgid, 0)` alone also counts zombies, and a container's PID 1 may never reap the
 * orphans it inherits, so on Linux the members' states are read from /proc. The same /proc
 * parsing gives a process's start time, which the child ledger (`../child-ledger.ts`) uses to tell
 * a process from a later one that reuses its pid.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Most /proc entries looked at per check (a bound, far above a gateway host's process count). */
const MAX_PROC_ENTRIES = 100_000;

/** The fields of /proc/<pid>/stat the gateway uses. */
export interface ProcStat {
  /** One letter: R, S, D, Z (zombie), X (dead), T, … */
  state: string;
  /** Process group id (field 5). */
  pgrp: number;
  /** Start time after boot in clock ticks (field 22): with the pid, names one process per boot. */
  starttime: number;
}

/**
 * Parses /proc/<pid>/stat (Linux). `gone` when there is no such process, `unknown` when it cannot
 * be read or parsed (e.g. /proc mounted with hidepid, or not Linux).
 */
export function readProcStat(pid: number | 'self'): ProcStat | 'gone' | 'unknown' {
  if (process.platform !== 'linux') return 'unknown';
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'unknown';
  }
  return parseStat(text) ?? 'unknown';
}

/** "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so cut at the last ')'. */
function parseStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") ": index 0 is field 3 (state), so field n is at index n - 3.
  const f = text.slice(close + 2).split(' ', 20);
  const state = f[0];
  const pgrp = Number(f[2]);
  const starttime = Number(f[19]);
  if (!state || !Number.isSafeInteger(pgrp) || !Number.isSafeInteger(starttime) || f[19] === '') return undefined;
  return { state, pgrp, starttime };
}

/** True while some process of group `pgid` exists and is not a zombie. */
export function groupHasLiveMember(pgid: number): boolean {
  return groupsWithLiveMembers([pgid]).has(pgid);
}

/**
 * Of the given process groups, those that still have a member that is not a zombie, with one
 * pass over /proc for all of them (the orphan reaper waits on many groups at once).
 */
export function groupsWithLiveMembers(pgids: Iterable<number>): Set<number> {
  const out = new Set<number>();
  if (process.platform === 'win32') return out;
  const candidates = new Set<number>();
  for (const pgid of pgids) {
    if (!Number.isSafeInteger(pgid) || pgid <= 1) continue;
    try {
      process.kill(-pgid, 0);
      candidates.add(pgid);
    } catch {
      // ESRCH: no member at all. EPERM: members we may not signal, so nothing more to do for them.
    }
  }
  if (candidates.size === 0) return out;
  if (process.platform !== 'linux') return candidates;
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return candidates; // cannot tell: assume alive (the callers' waits are bounded)
  }
  for (let i = 0; i < names.length && i < MAX_PROC_ENTRIES && out.size < candidates.size; i += 1) {
    const n = names[i] as string;
    if (n.charCodeAt(0) < 48 || n.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${n}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 3);
    const pgrp = Number(f[2]);
    if (candidates.has(pgrp) && f[0] !== 'Z' && f[0] !== 'X') out.add(pgrp);
  }
  return out;
}
