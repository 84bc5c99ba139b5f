/**
 * On-disk layout of one log and its file I/O: `logs/<logId>/seg-<firstSeq>.jsonl` segments,
 * `checkpoints/<size>.note`. Writes are positional, so a retried batch rewrites the same bytes
 * at the same offset instead of duplicating a half-written tail. The I/O goes through `AuditIo`
 * so tests can count syncs and inject faults (ENOSPC, EIO).
 */
import { closeSync, constants, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, write, writeFileSync, renameSync, ftruncate } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** The few file operations on the append path. */
export interface AuditIo {
  /** Writes all of `buf` at `position`. */
  write(fd: number, buf: Buffer, position: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, len: number): Promise<void>;
  /**
   * True: segments are opened with O_DSYNC, so `write` completes only once its data is durable
   * (synchronized I/O data integrity, what write + fdatasync gives) and the writer issues no
   * separate `fdatasync`: one thread-pool round trip per batch instead of two.
   */
  readonly dsync?: boolean;
}

/** Node's own file system (O_DSYNC segments). */
export const nodeIo: AuditIo = {
  dsync: true,
  write(fd, buf, position) {
    return new Promise((resolve, reject) => {
      let off = 0;
      const step = (): void =>
        write(fd, buf, off, buf.length - off, position + off, (err, n) => {
          if (err) return reject(err);
          off += n;
          if (off >= buf.length) return resolve();
          if (n === 0) return reject(Object.assign(new Error('short write'), { code: 'EIO' }));
          step();
        });
      step();
    });
  },
  fdatasync: (fd) => new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve()))),
  ftruncate: (fd, len) => new Promise((resolve, reject) => ftruncate(fd, len, (e) => (e ? reject(e) : resolve()))),
};

export const logDir = (auditDir: string, logId: string): string => join(auditDir, 'logs', logId);
export const checkpointsDir = (dir: string): string => join(dir, 'checkpoints');
const pad = (n: number): string => String(n).padStart(20, '0');
export const segmentName = (firstSeq: number): string => `seg-${pad(firstSeq)}.jsonl`;
export const checkpointName = (size: number): string => `${pad(size)}.note`;

/** Segments of a log directory as `{firstSeq, path}`, in order. */
export function listSegments(dir: string): { firstSeq: number; path: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .map((n) => /^seg-(\d{20})\.jsonl$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ firstSeq: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Checkpoint sizes present in a log's checkpoints directory, ascending. */
export function listCheckpoints(dir: string): number[] {
  try {
    return readdirSync(checkpointsDir(dir))
      .map((n) => /^(\d{20})\.note$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** fsync a directory so a created or renamed entry survives a crash. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates the log's directories (0700). */
export function ensureLogDir(dir: string): void {
  mkdirSync(checkpointsDir(dir), { recursive: true, mode: 0o700 });
}

/**
 * Opens (creating) a segment for writes at explicit positions (no O_APPEND: Linux pwrite ignores
 * the offset with it); `dsync`: with O_DSYNC, each write is durable when it returns.
 */
export function openSegment(path: string, dsync = false): number {
  return openSync(path, constants.O_RDWR | constants.O_CREAT | (dsync ? constants.O_DSYNC : 0), 0o600);
}

/**
 * writeFileDurable's steps on the thread pool, for the data plane's event loop: a checkpoint is
 * written up to several times a second under load, and its synchronous writes, fsyncs and rename
 * held the event loop for about a millisecond each time.
 */
export async function writeFileDurableAsync(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Writes a file durably: temp file, fsync, rename, fsync of the directory. */
export function writeFileDurable(dir: string, name: string, data: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, data, { mode: 0o600 });
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  syncDir(dir);
}
