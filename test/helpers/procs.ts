/** Process checks for the lifecycle tests (Linux /proc). */
import { readFileSync } from 'node:fs';

/** Alive and not a zombie (PID 1 in a container may never reap re-parented processes). */
export function runningPid(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
