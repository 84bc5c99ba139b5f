/**
 * Value shapes shared by every part of the config schema. Kept apart from schema.ts so that
 * section schemas living next to their feature (src/auth/…) can use them without an import cycle.
 */
import { z } from 'zod';
import { MAX_TIMER_MS, parseDuration } from './units.js';

const DURATION_PATTERN = /^\d{1,9}(ms|s|m|h|d)$/;
const DURATION_SHAPE = 'duration like 500ms, 30s, 5m, 1h or 30d';

/**
 * "500ms", "30s", "5m", "1h", "30d", or a plain number of milliseconds, of any length: for a
 * period compared with a clock (a retention age, a token lifetime), never for a timer. A
 * setting that ends up in setTimeout/setInterval must use TimerDuration.
 */
export const Duration = z
  .union([z.number().int().nonnegative(), z.string().regex(DURATION_PATTERN, DURATION_SHAPE)])
  .describe('A duration: milliseconds as a number, or a string such as "500ms", "30s", "5m", "1h", "30d".');

/** Why a timer duration is refused; 24d is the longest whole number of days under the limit. */
export const TIMER_TOO_LONG = `at most 24d (${MAX_TIMER_MS} ms, the longest timer Node.js can set)`;

/**
 * A Duration that is used as a timer delay, so at most 2^31−1 ms (about 24.8 days): Node.js runs
 * a longer setTimeout after 1 ms instead, which turned `maxLifetime: 30d` into a respawn storm and
 * `shutdownGrace: 30d` into an immediate exit.
 */
/** A TimerDuration of at least `minMs` (`minText` says it in the config's words, e.g. "1s"). */
export function timerDurationAtLeast(minMs: number, minText: string): z.ZodUnion<[z.ZodNumber, z.ZodString]> {
  const tooShort = `at least ${minText}`;
  return z.union([
    z.number().int().min(minMs, tooShort).max(MAX_TIMER_MS, TIMER_TOO_LONG),
    z
      .string()
      .regex(DURATION_PATTERN, DURATION_SHAPE)
      .refine((s) => !DURATION_PATTERN.test(s) || parseDuration(s) <= MAX_TIMER_MS, TIMER_TOO_LONG)
      .refine((s) => !DURATION_PATTERN.test(s) || parseDuration(s) >= minMs, tooShort),
  ]);
}

export const TimerDuration = timerDurationAtLeast(0, '0ms').describe('A duration of at most 24d: milliseconds as a number, or a string such as "500ms", "30s", "5m", "1h", "7d".');

const BYTE_SIZE_PATTERN = /^\d{1,9}(b|kb|mb|B|KB|MB)$/;
const ZERO_BYTES = 'must be more than 0 bytes (a size like 512kb or 1mb)';

/**
 * "1mb", "512kb", "100b", or a plain number of bytes; never 0 (`0kb` used to pass here and then
 * fail in compile without a YAML path or line).
 */
export const ByteSize = z
  .union([
    z.number().int().positive(ZERO_BYTES),
    z
      .string()
      .regex(BYTE_SIZE_PATTERN, 'size like 512kb or 1mb')
      .refine((s) => !/^0+(b|kb|mb)$/i.test(s), ZERO_BYTES),
  ])
  .describe('A size: bytes as a number, or a string such as "512kb", "1mb".');
