/**
 * Small files holding key material in the data directory (key-hash key, secret-store key, signing
 * keys): mode 0600, fsynced, never seen half-written. Content goes to a private temporary file
 * first, then takes the final name in one step.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

async function writePrivateTemp(path: string, text: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  return tmp;
}

/**
 * Creates `path` holding `text` unless it exists; resolves false when it already did. A hard link
 * fails on an existing name, so processes racing on first start agree on one file.
 */
export async function createPrivateFile(path: string, text: string): Promise<boolean> {
  const tmp = await writePrivateTemp(path, text);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Replaces `path` with `text` (mode 0600) in one rename. */
export async function replacePrivateFile(path: string, text: string): Promise<void> {
  const tmp = await writePrivateTemp(path, text);
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
