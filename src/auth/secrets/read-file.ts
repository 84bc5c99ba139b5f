/** Bounded reading of a small secret file (or stream), shared by the resolver and the CLI. */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Why a secret file could not be read; the message never contains file content. */
export class SecretFileError extends Error {
  constructor(
    readonly reason: 'missing' | 'not-a-file' | 'too-large' | 'unreadable',
    message: string,
  ) {
    super(message);
    this.name = 'SecretFileError';
  }
}

/** Drops one trailing line break (`\n` or `\r\n`), as `echo value > file` adds one. */
export function trimTrailingNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n')) return s.slice(0, -1);
  return s;
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8, trailing newline trimmed. Symlinks are
 * followed (mounted secrets are often symlinks); FIFOs and devices are refused without blocking.
 */
export async function readSecretFile(path: string, maxBytes: number): Promise<string> {
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new SecretFileError('missing', 'file not found');
    throw new SecretFileError('unreadable', `file cannot be opened (${code ?? 'error'})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SecretFileError('not-a-file', 'not a regular file');
    if (st.size > maxBytes) throw new SecretFileError('too-large', `file exceeds ${maxBytes} bytes`);
    // Read at most one byte past the cap: the file may grow between stat and read.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > maxBytes) throw new SecretFileError('too-large', `file exceeds ${maxBytes} bytes`);
    return trimTrailingNewline(buf.subarray(0, n).toString('utf8'));
  } catch (e) {
    if (e instanceof SecretFileError) throw e;
    throw new SecretFileError('unreadable', `file cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    await fh.close();
  }
}

/** Reads a whole stream (e.g. stdin) of at most `maxBytes` as UTF-8, trailing newline trimmed. */
export async function readSecretStream(stream: AsyncIterable<Buffer | string>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
    size += b.length;
    if (size > maxBytes) throw new SecretFileError('too-large', `input exceeds ${maxBytes} bytes`);
    chunks.push(b);
  }
  return trimTrailingNewline(Buffer.concat(chunks).toString('utf8'));
}
