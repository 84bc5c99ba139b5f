/**
 * Value shapes shared by every part of the config schema. Kept apart from schema.ts so that
 * section schemas living next to their feature (src/auth/…) can use them without an import cycle.
 */
import { z } from 'zod';

/** "500ms", "30s", "5m", "1h", "30d", or a plain number of milliseconds. */
export const Duration = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\d{1,9}(ms|s|m|h|d)$/, 'duration like 500ms, 30s, 5m, 1h or 30d')])
  .describe('A duration: milliseconds as a number, or a string such as "500ms", "30s", "5m", "1h", "30d".');

/** "1mb", "512kb", "100b", or a plain number of bytes. */
export const ByteSize = z
  .union([z.number().int().positive(), z.string().regex(/^\d{1,9}(b|kb|mb|B|KB|MB)$/, 'size like 512kb or 1mb')])
  .describe('A size: bytes as a number, or a string such as "512kb", "1mb".');

