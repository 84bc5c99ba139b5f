/**
 * The capture files of one endpoint directory (`<audit dir>/capture/<tenant log id>/<endpoint>/`):
 * `<UTC date>.jsonl`, then `<UTC date>.<n>.jsonl` once a file reaches its rotation size. Oldest
 * first is (date, n) order. Listing is bounded; names that are not capture files are ignored
 * (never deleted).
 */
import { join } from 'node:path';
import type { CaptureIo } from './io.js';

export interface CaptureFile {
  name: string;
  date: string;
  n: number;
  size: number;
  mtimeMs: number;
}

/** Most files considered in one endpoint directory (a bound on listing work, not on disk use). */
export const MAX_FILES = 10_000;

const NAME = /^(\d{4}-\d{2}-\d{2})(?:\.(\d{1,6}))?\.jsonl$/;

export function fileName(date: string, n: number): string {
  return n === 0 ? `${date}.jsonl` : `${date}.${n}.jsonl`;
}

/** `YYYY-MM-DD` of a UTC instant. */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function parseName(name: string): { date: string; n: number } | undefined {
  const m = NAME.exec(name);
  return m && m[1] !== undefined ? { date: m[1], n: m[2] === undefined ? 0 : Number(m[2]) } : undefined;
}

export function olderFirst(a: CaptureFile, b: CaptureFile): number {
  return a.date < b.date ? -1 : a.date > b.date ? 1 : a.n - b.n;
}

/** The capture files of a directory, oldest first (at most MAX_FILES). */
export async function listFiles(io: CaptureIo, dir: string): Promise<CaptureFile[]> {
  const out: CaptureFile[] = [];
  for (const name of await io.readdir(dir)) {
    if (out.length >= MAX_FILES) break;
    const p = parseName(name);
    if (!p) continue;
    try {
      const st = await io.stat(join(dir, name));
      if (st.isFile()) out.push({ name, date: p.date, n: p.n, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      /* removed meanwhile */
    }
  }
  return out.sort(olderFirst);
}

/**
 * Deletes files (oldest first, never `keep`) while the directory holds more than `maxBytes`,
 * and every file last written before `notBefore` (when given). Returns the files left.
 */
export async function prune(io: CaptureIo, dir: string, files: CaptureFile[], maxBytes: number, notBefore: number | undefined, keep: string | undefined): Promise<CaptureFile[]> {
  let total = 0;
  for (const f of files) total += f.size;
  const left: CaptureFile[] = [];
  for (const f of files) {
    const old = notBefore !== undefined && f.mtimeMs < notBefore;
    if (f.name !== keep && (old || total > maxBytes)) {
      try {
        await io.unlink(join(dir, f.name));
        total -= f.size;
        continue;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          total -= f.size;
          continue;
        }
        throw e;
      }
    }
    left.push(f);
  }
  return left;
}
