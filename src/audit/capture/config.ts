/**
 * Payload capture settings of one virtual server (docs/audit.md "Payload capture"): a debugging
 * aid, off by default, entirely separate from the tamper-evident audit log (which never holds a
 * payload). Compiled once per config snapshot, so a hot reload that turns capture on or off
 * applies to the next call.
 */
import { z } from 'zod';
import { ByteSize, Duration } from '../../config/primitives.js';
import { parseByteSize, parseDuration } from '../../config/units.js';
import type { Snapshot } from '../../config/compile.js';
import { DEFAULT_VIEW } from '../../catalog/view.js';

export const CaptureConfig = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('Write a redacted copy of each forwarded call (arguments, result or error) under `<audit.dir>/capture/`. For debugging only; off by default. The default endpoint `/mcp` is never captured: define a virtual server to capture.'),
    maxPayloadBytes: ByteSize.default('16kb').describe('Largest captured arguments (or params) and largest captured result or error, each measured as JSON after redaction; a longer one is cut to this many bytes, kept as text, and flagged in `truncated`.'),
    maxBytes: ByteSize.default('64mb').describe('Most bytes of capture files kept for this endpoint per tenant; past it the oldest files are deleted (files rotate at a quarter of this size).'),
    maxAge: Duration.default('7d').describe('Capture files last written longer ago than this are deleted (checked every minute). 0: no age limit, only `maxBytes`.'),
  })
  .strict()
  .describe('Redacted payload capture for debugging (docs/audit.md "Payload capture"). Separate from the audit log; never read by verification.');

export type CaptureConfigInput = z.infer<typeof CaptureConfig>;

/** One endpoint's capture settings, units parsed. */
export interface CompiledCapture {
  maxPayloadBytes: number;
  maxBytes: number;
  /** 0: no age limit. */
  maxAgeMs: number;
}

/** Retention applied to capture directories whose endpoint is no longer configured. */
export const ORPHAN_MAX_AGE_MS = 7 * 86_400_000;

export function compileCapture(c: CaptureConfigInput): CompiledCapture {
  return { maxPayloadBytes: parseByteSize(c.maxPayloadBytes), maxBytes: parseByteSize(c.maxBytes), maxAgeMs: parseDuration(c.maxAge) };
}

interface SnapshotCapture {
  /** Endpoints with capture on. */
  enabled: ReadonlyMap<string, CompiledCapture>;
  /** Every configured endpoint's limits (retention applies even after capture is turned off). */
  limits: ReadonlyMap<string, CompiledCapture>;
}

const perSnapshot = new WeakMap<Snapshot, SnapshotCapture>();

function compiledOf(snapshot: Snapshot): SnapshotCapture {
  let c = perSnapshot.get(snapshot);
  if (c) return c;
  const enabled = new Map<string, CompiledCapture>();
  const limits = new Map<string, CompiledCapture>();
  for (const vs of snapshot.config.virtualServers) {
    const cc = compileCapture(vs.capture);
    limits.set(vs.name, cc);
    if (vs.capture.enabled) enabled.set(vs.name, cc);
  }
  c = { enabled, limits };
  perSnapshot.set(snapshot, c);
  return c;
}

/** The capture settings of an endpoint in this snapshot when capture is on, else undefined. */
export function captureFor(snapshot: Snapshot, endpoint: string): CompiledCapture | undefined {
  // The default endpoint /mcp is never captured, so its traffic cannot be captured by accident
  // (`default`, its view name, is reserved: no virtual server can take it).
  if (endpoint === DEFAULT_VIEW) return undefined;
  return compiledOf(snapshot).enabled.get(endpoint);
}

/** The size and age limits of an endpoint's capture files (configured or not, on or off). */
export function captureLimits(snapshot: Snapshot, endpoint: string): CompiledCapture | undefined {
  return compiledOf(snapshot).limits.get(endpoint);
}
