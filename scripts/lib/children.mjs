// Child processes of the conformance runners: each child leads its own process group, and every
// group is killed on exit and on SIGINT/SIGTERM/SIGHUP, so a run never leaves orphans behind.

/** Every child still running, by pid; each leads its own process group. */
export const children = new Map();

export function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Synchronous so it also works from the 'exit' handler. */
export function killAllNow() {
  for (const pid of children.keys()) killGroup(pid, 'SIGKILL');
  children.clear();
}

/** Installs the exit and signal handlers once per process. */
export function reapChildrenOnExit() {
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping every child process\n`);
      killAllNow();
      process.exit(130);
    });
  }
}
