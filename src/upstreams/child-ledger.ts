/**
 * The child ledger: what lets a gateway that was SIGKILLed or OOM-killed (no signal handler, no
 * exit hook runs) still leave no orphan behind (security checklist D1). Linux only: it needs /proc.
 *
 * Each gateway process keeps one file in a private runtime directory, named after its pid and its
 * start time, that lists its live stdio children (pid = process group id, start time, upstream).
 * At start, a gateway reads the other files there: a file whose owner is dead names children that
 * nobody will reap any more, and each of them that is still the same process (same pid AND same
 * start time, so pid reuse never makes us signal an unrelated process) gets SIGTERM to its process
 * group, a grace, then SIGKILL. Files of live owners (another gateway using the same directory)
 * are left alone.
 *
 * The directory is `PORTCULLIS_RUN_DIR`, else `$XDG_RUNTIME_DIR/portcullis`, else
 * `<tmpdir>/portcullis-<uid>`, created 0700. It is refused (the gateway runs without a ledger) if
 * it is not a directory of our own uid without group or other permissions: another local user
 * must not be able to plant a file that makes the gateway kill processes.
 */
import { lstatSync, mkdirSync, opendirSync, renameSync, rmSync, writeFileSync, readFileSync, type Dir } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { readFileBounded } from '../storage/bounded-read.js';
import type { ChildLedgerSink, TrackedChild } from './children.js';
import { groupsWithLiveMembers, readProcStat } from './stdio/process-group.js';

/** Largest ledger file read back; a larger one is malformed. */
export const LEDGER_MAX_BYTES = 256 * 1024;
/** Most children one ledger records (and a file read back may list). */
export const LEDGER_MAX_ENTRIES = 1024;
/** Directory entries looked at per scan, and ledger files handled per scan. */
const MAX_DIR_ENTRIES = 4096;
const MAX_LEDGER_FILES = 64;
/** Longest upstream name kept in an entry. */
const MAX_LABEL = 256;
/** Linux's largest possible pid (PID_MAX_LIMIT on 64-bit). */
const PID_MAX = 4_194_304;
/** Reaper timing: SIGTERM, this grace, SIGKILL, this wait. Every group is waited on in parallel. */
const REAP_GRACE_MS = 2_000;
const KILL_WAIT_MS = 1_000;
const POLL_MS = 50;

const FILE_RE = /^gw-(\d{1,10})-(\d{1,20})\.json$/;
const TMP_RE = /^\.gw-(\d{1,10})-(\d{1,20})\.json\.tmp$/;
const BOOT_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A gateway process, named so that neither pid reuse nor a reboot confuses it with another. */
export interface OwnerId {
  pid: number;
  /** /proc/<pid>/stat field 22, clock ticks after boot. */
  starttime: number;
  /** /proc/sys/kernel/random/boot_id */
  bootId: string;
}

/** One live child: its pid, which is also its process group id (stdio children lead their own). */
export interface LedgerEntry {
  pid: number;
  starttime: number;
  upstream: string;
}

export interface LedgerFile {
  v: 1;
  owner: OwnerId;
  children: LedgerEntry[];
}

/** The checked run directory and this gateway's identity. */
export interface RunDir {
  dir: string;
  self: OwnerId;
  /** This gateway's own process group: never signalled, whatever a file says. */
  ownPgid: number;
}

/** Where the ledgers live (see the module comment). */
export function runDirPath(env: NodeJS.ProcessEnv = process.env): string {
  const own = env.PORTCULLIS_RUN_DIR;
  if (own) return resolve(own);
  const xdg = env.XDG_RUNTIME_DIR;
  // The XDG base directory spec: a relative path is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'portcullis');
  return join(tmpdir(), `portcullis-${process.getuid?.() ?? 'user'}`);
}

/** The ledger file name of a gateway process. */
export function ledgerFileName(pid: number, starttime: number): string {
  return `gw-${pid}-${starttime}.json`;
}

/** This boot's id, or undefined if it cannot be read. */
export function currentBootId(): string | undefined {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return BOOT_ID_RE.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates (0700) and checks the run directory and reads this gateway's identity. Undefined, with
 * one warning, when the ledger cannot be used safely; off Linux it is silently off.
 */
export function openRunDir(log: Logger, env: NodeJS.ProcessEnv = process.env): RunDir | undefined {
  if (process.platform !== 'linux' || typeof process.getuid !== 'function') return undefined;
  const dir = runDirPath(env);
  const off = (reason: string): undefined => {
    log.warn({ dir, reason }, 'child_ledger.disabled');
    return undefined;
  };
  const me = readProcStat('self');
  const bootId = currentBootId();
  if (typeof me !== 'object' || bootId === undefined) return off('cannot read /proc');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    return off(`cannot create: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    return off(`cannot stat: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!st.isDirectory()) return off('not a directory');
  if (st.uid !== process.getuid()) return off('owned by another user');
  if ((st.mode & 0o077) !== 0) return off('group or other permissions set (want 0700)');
  return { dir, self: { pid: process.pid, starttime: me.starttime, bootId }, ownPgid: me.pgrp };
}

/**
 * This gateway's ledger: rewritten atomically (temp file, rename, 0600) on each spawn and each
 * exit of a child, removed by `close` on a clean exit. Errors are logged, never thrown: a spawn
 * does not fail because the ledger cannot be written.
 */
export class ChildLedger implements ChildLedgerSink {
  private readonly entries = new Map<TrackedChild, LedgerEntry>();
  private readonly file: string;
  private readonly tmp: string;
  private closed = false;
  private warnedWrite = false;
  private warnedFull = false;

  constructor(
    private readonly run: RunDir,
    private readonly log: Logger,
  ) {
    const name = ledgerFileName(run.self.pid, run.self.starttime);
    this.file = join(run.dir, name);
    this.tmp = join(run.dir, `.${name}.tmp`);
    this.write();
  }

  /** The ledger file's path. */
  get path(): string {
    return this.file;
  }

  add(c: TrackedChild): void {
    if (this.closed || this.entries.has(c)) return;
    // Without its start time a pid cannot be told from a later process reusing it: not recorded.
    if (c.pid === undefined || c.starttime === undefined) return;
    if (this.entries.size >= LEDGER_MAX_ENTRIES) {
      if (!this.warnedFull) this.log.warn({ max: LEDGER_MAX_ENTRIES }, 'child_ledger.full');
      this.warnedFull = true;
      return;
    }
    this.entries.set(c, { pid: c.pid, starttime: c.starttime, upstream: c.label.slice(0, MAX_LABEL) });
    this.write();
  }

  remove(c: TrackedChild): void {
    if (this.closed || !this.entries.delete(c)) return;
    this.write();
  }

  /** Removes the file (the gateway's clean exit). Idempotent; later add/remove do nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.entries.clear();
    for (const p of [this.tmp, this.file]) {
      try {
        rmSync(p, { force: true });
      } catch {
        /* best effort: a leftover file of a dead owner is removed by the next start */
      }
    }
  }

  private write(): void {
    const body: LedgerFile = { v: 1, owner: this.run.self, children: [...this.entries.values()] };
    try {
      rmSync(this.tmp, { force: true });
      writeFileSync(this.tmp, JSON.stringify(body), { mode: 0o600, flag: 'wx' });
      renameSync(this.tmp, this.file);
    } catch (e) {
      if (!this.warnedWrite) this.log.warn({ file: this.file, err: (e as Error).message }, 'child_ledger.write_failed');
      this.warnedWrite = true;
    }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasExactKeys = (o: Record<string, unknown>, keys: readonly string[]): boolean => {
  const k = Object.keys(o);
  return k.length === keys.length && keys.every((x) => Object.hasOwn(o, x));
};
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 1 && (v as number) <= PID_MAX;
const isTicks = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Strict shape check of a ledger read back: the parsed file, or why it is refused. */
export function parseLedger(text: string): LedgerFile | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!isRecord(v) || !hasExactKeys(v, ['v', 'owner', 'children']) || v.v !== 1) return 'not a version 1 ledger';
  const o = v.owner;
  if (!isRecord(o) || !hasExactKeys(o, ['pid', 'starttime', 'bootId']) || !isPid(o.pid) || !isTicks(o.starttime) || typeof o.bootId !== 'string' || !BOOT_ID_RE.test(o.bootId)) {
    return 'bad owner';
  }
  const cs = v.children;
  if (!Array.isArray(cs) || cs.length > LEDGER_MAX_ENTRIES) return 'bad children list';
  const children: LedgerEntry[] = [];
  for (const c of cs as unknown[]) {
    if (!isRecord(c) || !hasExactKeys(c, ['pid', 'starttime', 'upstream']) || !isPid(c.pid) || !isTicks(c.starttime)) return 'bad child entry';
    if (typeof c.upstream !== 'string' || c.upstream.length === 0 || c.upstream.length > MAX_LABEL) return 'bad child entry';
    children.push({ pid: c.pid, starttime: c.starttime, upstream: c.upstream });
  }
  return { v: 1, owner: { pid: o.pid, starttime: o.starttime, bootId: o.bootId }, children };
}

/** A live process that is exactly the one named (pid and start time), not a zombie. */
function isSameLiveProcess(pid: number, starttime: number): 'yes' | 'no' | 'unknown' {
  const st = readProcStat(pid);
  if (st === 'unknown') return 'unknown';
  if (st === 'gone' || st.starttime !== starttime || st.state === 'Z' || st.state === 'X') return 'no';
  return 'yes';
}

/** A group to reap. */
interface Target {
  pgid: number;
  upstream: string;
  ownerPid: number;
}

/**
 * Reaps the children of dead gateways listed in the run directory and removes their ledgers (see
 * the module comment). Resolves after at most about `graceMs + killWaitMs` (plus a bounded scan);
 * never rejects. Returns how many process groups were signalled.
 */
export async function reapOrphans(run: RunDir, log: Logger, o: { graceMs?: number; killWaitMs?: number } = {}): Promise<number> {
  let scan: { targets: Map<number, Target>; deadFiles: string[] };
  try {
    scan = scanAndSignal(run, log);
  } catch (e) {
    log.warn({ dir: run.dir, err: (e as Error).message }, 'child_ledger.scan_failed');
    return 0;
  }
  const { targets, deadFiles } = scan;
  const pending = new Map(targets);
  await waitGroups(pending, o.graceMs ?? REAP_GRACE_MS, 'SIGTERM', log);
  if (pending.size > 0) {
    // Polled without a gap since SIGTERM: each group still had a live member at every check, so
    // its id cannot have been reused by an unrelated group in between.
    for (const [pgid, t] of [...pending]) {
      if (!signalGroup(pgid, 'SIGKILL', t, log)) pending.delete(pgid);
    }
    await waitGroups(pending, o.killWaitMs ?? KILL_WAIT_MS, 'SIGKILL', log);
  }
  for (const t of pending.values()) log.warn({ upstream: t.upstream, pid: t.pgid, ownerPid: t.ownerPid }, 'upstream.orphan_survived');
  // Removed after the kills: a start that dies half-way leaves the files for the next one.
  for (const f of deadFiles) rmQuiet(f);
  return targets.size;
}

function rmQuiet(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    /* next start */
  }
}

/** Sends `sig` to the group; false (with a log line when it matters) if it cannot be signalled. */
function signalGroup(pgid: number, sig: NodeJS.Signals, t: Target, log: Logger): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH') log.warn({ upstream: t.upstream, pid: pgid, ownerPid: t.ownerPid, err: code }, 'upstream.orphan_not_signalled');
    return false;
  }
}

/** Polls until every group in `pending` is empty or `ms` passed; logs and drops the emptied ones. */
async function waitGroups(pending: Map<number, Target>, ms: number, sig: NodeJS.Signals, log: Logger): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const live = groupsWithLiveMembers(pending.keys());
    for (const [pgid, t] of [...pending]) {
      if (live.has(pgid)) continue;
      pending.delete(pgid);
      log.warn({ upstream: t.upstream, pid: pgid, ownerPid: t.ownerPid, signal: sig }, 'upstream.orphan_reaped');
    }
    if (pending.size === 0 || Date.now() >= end) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * The synchronous part: reads the ledgers, and SIGTERMs each verified orphan's group right after
 * checking its start time (no await in between, so the pid has no time to be reused).
 */
function scanAndSignal(run: RunDir, log: Logger): { targets: Map<number, Target>; deadFiles: string[] } {
  const targets = new Map<number, Target>();
  const deadFiles: string[] = [];
  const uid = process.getuid?.();
  let dir: Dir;
  try {
    dir = opendirSync(run.dir);
  } catch (e) {
    log.warn({ dir: run.dir, err: (e as NodeJS.ErrnoException).code }, 'child_ledger.scan_failed');
    return { targets, deadFiles };
  }
  let files = 0;
  try {
    for (let seen = 0; seen < MAX_DIR_ENTRIES && files < MAX_LEDGER_FILES; seen += 1) {
      const ent = dir.readSync();
      if (ent === null) break;
      const name = ent.name;
      const tmp = TMP_RE.exec(name);
      if (tmp) {
        // A temp file left by a gateway killed mid-write.
        if (isSameLiveProcess(Number(tmp[1]), Number(tmp[2])) === 'no') rmQuiet(join(run.dir, name));
        continue;
      }
      const m = FILE_RE.exec(name);
      if (!m) continue; // not ours: left alone
      files += 1;
      const path = join(run.dir, name);
      const ledger = readLedger(path, uid);
      if (ledger === null) continue; // removed meanwhile (another gateway starting)
      if (typeof ledger === 'string') {
        log.warn({ file: path, reason: ledger }, 'child_ledger.malformed');
        rmQuiet(path);
        continue;
      }
      const { owner } = ledger;
      if (owner.pid !== Number(m[1]) || owner.starttime !== Number(m[2])) {
        log.warn({ file: path, reason: 'owner does not match the file name' }, 'child_ledger.malformed');
        rmQuiet(path);
        continue;
      }
      const sameBoot = owner.bootId === run.self.bootId;
      if (sameBoot && owner.pid === run.self.pid && owner.starttime === run.self.starttime) continue; // ours
      // A live owner (another gateway on this directory) reaps its own children; if it cannot be
      // told (unreadable /proc entry), it is left alone too.
      if (sameBoot && isSameLiveProcess(owner.pid, owner.starttime) !== 'no') continue;
      deadFiles.push(path);
      // Another boot: its processes are gone, and start times of this boot say nothing about them.
      if (!sameBoot) continue;
      for (const c of ledger.children) {
        if (c.pid === run.self.pid || c.pid === run.ownPgid || targets.has(c.pid)) continue;
        const st = readProcStat(c.pid);
        // Same pid and same start time: the very child (a zombie leader still pins its group id).
        if (typeof st !== 'object' || st.starttime !== c.starttime) continue;
        const t: Target = { pgid: c.pid, upstream: c.upstream, ownerPid: owner.pid };
        // A live leader is a live member; a zombie one may have left helpers running in its group.
        if ((st.state === 'Z' || st.state === 'X') && !groupsWithLiveMembers([c.pid]).has(c.pid)) continue;
        if (signalGroup(c.pid, 'SIGTERM', t, log)) targets.set(c.pid, t);
      }
    }
  } finally {
    dir.closeSync();
  }
  return { targets, deadFiles };
}

/** Reads one ledger file with a bound, refusing anything but a private regular file of ours. */
function readLedger(path: string, uid: number | undefined): LedgerFile | string | null {
  let text: string;
  try {
    const l = lstatSync(path);
    if (!l.isFile()) return 'not a regular file';
    const buf = readFileBounded(path, LEDGER_MAX_BYTES, (st) => {
      if (st.ino !== l.ino || st.dev !== l.dev) throw new Error('replaced while opened');
      if (st.uid !== uid) throw new Error('owned by another user');
      if ((st.mode & 0o077) !== 0) throw new Error('group or other permissions set');
    });
    if (buf.length > LEDGER_MAX_BYTES) return 'too large';
    text = buf.toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return (e as Error).message;
  }
  return parseLedger(text);
}
