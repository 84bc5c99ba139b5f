/** File operations of the capture writer; tests replace them to inject disk faults. */
import { appendFile, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';

export interface CaptureIo {
  /** Creates the directory and its parents with mode 0700. */
  mkdir(dir: string): Promise<void>;
  /** Appends to a file, creating it with mode 0600. */
  append(path: string, data: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  stat(path: string): Promise<Stats>;
  unlink(path: string): Promise<void>;
}

export const nodeCaptureIo: CaptureIo = {
  async mkdir(dir) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  },
  append: (path, data) => appendFile(path, data, { mode: 0o600, flag: 'a' }),
  readdir: (dir) => readdir(dir),
  stat: (path) => stat(path),
  unlink: (path) => unlink(path),
};
