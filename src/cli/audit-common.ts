/**
 * What every `portcullis audit` subcommand shares: usage errors exit 2 (docs/audit.md), and
 * input files are read with a bound (a note or key file is small; /dev/zero or a FIFO is refused
 * instead of read forever).
 */
import type { Command, CommanderError } from 'commander';
import { MAX_NOTE_BYTES, readFileBounded } from '../audit/checkpoint.js';
import { VerifyUsageError } from '../audit/verify.js';

/** Commander's own usage errors (unknown option, missing or invalid value) exit 2; `--help` stays 0. */
export function usageExit(cmd: Command): Command {
  return cmd.exitOverride((err: CommanderError) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
}

/** A regular file of at most `limit` bytes, or a VerifyUsageError (exit 2) naming the flag and the path. */
export function readBoundedInput(path: string, what: string, limit: number): Buffer {
  let buf: Buffer;
  try {
    buf = readFileBounded(path, limit);
  } catch (e) {
    throw new VerifyUsageError(`${what} ${path}: ${(e as Error).message}`);
  }
  if (buf.length > limit) throw new VerifyUsageError(`${what} ${path}: larger than ${limit} bytes`);
  return buf;
}

/** A checkpoint note given on the command line (`--checkpoint`, `--from`, `--to`): at most 1 MiB. */
export function readNoteInput(path: string, what: string): Buffer {
  return readBoundedInput(path, what, MAX_NOTE_BYTES);
}
