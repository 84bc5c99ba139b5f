/**
 * Reading a file that a user or an operator points at (a config file, a key, a checkpoint note)
 * with a bound: a wrong path such as /dev/zero, a FIFO or a huge log is refused or cut short
 * instead of read whole.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** What a file that is not a regular one is, for messages: `a FIFO`, `a directory`, … */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return st.isFile() ? 'a regular file' : 'not a file';
}

/** Thrown by openRegularFileSync: `not a regular file`; `kind` says what it is (fileKind). */
export class NotRegularFileError extends Error {
  constructor(readonly kind: string) {
    super('not a regular file');
    this.name = 'NotRegularFileError';
  }
}

/**
 * Opens a file read-only and fstats that handle, refusing anything but a regular file (a FIFO,
 * a device, a directory) with NotRegularFileError before any read. Opened non-blocking, so a FIFO
 * cannot hang the open; the check is on the handle, so the file read is the file checked. The
 * caller closes `fd`.
 */
export function openRegularFileSync(path: string): { fd: number; st: Stats } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFileError(fileKind(st));
    return { fd, st };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Reads at most `limit + 1` bytes of a regular file, so a caller can tell "too large" without
 * reading a huge file (or /dev/zero) whole. A FIFO, device or directory is refused before any
 * read with `not a regular file` (opened non-blocking, so a FIFO cannot hang the open).
 * `onStat` sees the stat of exactly the file that is read.
 */
export function readFileBounded(path: string, limit: number, onStat?: (st: Stats) => void): Buffer {
  const { fd, st } = openRegularFileSync(path);
  try {
    onStat?.(st);
    const cap = limit + 1;
    const chunks: Buffer[] = [];
    let got = 0;
    // Each read returns ≥ 1 byte, or 0 at end of file; the total never exceeds `cap`.
    for (let want = Math.min(st.size, limit) + 1; got < cap; want = Math.min(cap - got, 64 * 1024)) {
      const buf = Buffer.alloc(want);
      const n = readSync(fd, buf, 0, want, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      got += n;
    }
    return Buffer.concat(chunks, got);
  } finally {
    closeSync(fd);
  }
}
