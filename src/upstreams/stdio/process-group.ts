/**
 * Whether a process group still has a live member: after a stdio upstream's leader exits, what
 * it started in its group (a wrapper's real server, a helper) is reaped too (security checklist
 * D1). `kill(-pgid, 0)` alone also counts zombies, and a container's PID 1 may never reap the
 * orphans it inherits, so on Linux the members' states are read from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Most /proc entries looked at per check (a bound, far above a gateway host's process count). */
const MAX_PROC_ENTRIES = 100_000;

/** True while some process of group `pgid` exists and is not a zombie. */
export function groupHasLiveMember(pgid: number): boolean {
  if (process.platform === 'win32') return false;
  try {
    process.kill(-pgid, 0);
  } catch {
    // ESRCH: no member at all. EPERM: members we may not signal, so nothing more to do for them.
    return false;
  }
  return process.platform === 'linux' ? liveMemberInProc(pgid) : true;
}

function liveMemberInProc(pgid: number): boolean {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return true; // cannot tell: assume alive (the caller's wait is bounded)
  }
  const want = String(pgid);
  for (let i = 0; i < names.length && i < MAX_PROC_ENTRIES; i += 1) {
    const n = names[i] as string;
    if (n.charCodeAt(0) < 48 || n.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${n}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so cut at the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 3);
    if (f[2] === want && f[0] !== 'Z' && f[0] !== 'X') return true;
  }
  return false;
}
