/**
 * The `audit` section: the tamper-evident audit log (docs/audit.md). One append-only log per
 * tenant plus a system log, signed checkpoints, witnesses. On by default: the embedded default
 * writes under `<dataDir>/audit` and needs no setup.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { ByteSize, Duration, TimerDuration } from '../config/primitives.js';
import { parseByteSize, parseDuration } from '../config/units.js';
import { AuditSinksConfig, compileSinks, type CompiledSink } from './sinks/config.js';
import { AuditRetentionConfig, compileRetention, type CompiledRetention } from './retention.js';
import { compileWitnessService, WitnessServiceConfig, type CompiledWitnessService } from './witness-service.js';

const DirectoryWitness = z
  .object({
    kind: z.literal('directory').describe('A directory standing in for WORM storage: keeps the latest checkpoint per log and refuses a smaller or inconsistent one.'),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,32}$/).optional().describe('Name used in logs and metrics; defaults to `directory-<index>`.'),
    path: z.string().min(1).describe('The witness directory; relative paths resolve against the config file.'),
  })
  .strict();

const HttpWitness = z
  .object({
    kind: z.literal('http').describe('POSTs `{checkpoint, proof, from}` as JSON to a URL; a non-2xx answer means not witnessed (retried with backoff, logged).'),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,32}$/).optional().describe('Name used in logs and metrics; defaults to `http-<index>`.'),
    url: z.string().url().describe('The endpoint that receives each checkpoint.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Static headers sent with each POST (values may use ${ENV}).'),
    timeout: TimerDuration.default('5s').describe('Deadline of one POST.'),
  })
  .strict();

/** A place checkpoints are also written to, so the key holder cannot silently rewrite history. */
export const WitnessConfig = z.discriminatedUnion('kind', [DirectoryWitness, HttpWitness]);

export const AuditConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Write the audit log. Off: no records, and side-effecting calls are not held for a durable record.'),
    dir: z.string().optional().describe('Directory of logs, keys and checkpoints; relative to the config file. Default: `<gateway.dataDir>/audit`.'),
    origin: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,127}$/, 'letters, digits, "_", ".", ":" and "-", at most 128')
      .default('portcullis')
      .describe('Deployment name: checkpoint origin lines are `<origin>/<tenant>` and `<origin>/system`.'),
    checkpointInterval: TimerDuration.default('1s').describe('Sign a checkpoint at least this often while a log grows.'),
    checkpointRecords: z.number().int().min(1).max(1_000_000).default(1000).describe('Also sign a checkpoint after this many new records.'),
    groupCommit: TimerDuration.default('2ms').describe('Group commit: the longest a record waits to share one write + fdatasync with others (a side-effecting call on an idle log is flushed at once).'),
    groupCommitRecords: z.number().int().min(1).max(100_000).default(512).describe('A batch is flushed early once it holds this many records.'),
    segmentBytes: ByteSize.default('64mb').describe('Start a new segment file past this size.'),
    segmentAge: Duration.default('1h').describe('Start a new segment file when the current one is older than this.'),
    retryAfter: TimerDuration.default('1s').describe('Retry-After given with 503 when the audit log cannot be written.'),
    witnesses: z.array(WitnessConfig).max(16).default([]).describe('Where each checkpoint is also published.'),
    witnessService: WitnessServiceConfig.prefault({}),
    sinks: AuditSinksConfig,
    retention: AuditRetentionConfig.prefault({}),
  })
  .strict()
  .describe('The tamper-evident audit log (docs/audit.md).');

export type AuditConfigInput = z.infer<typeof AuditConfig>;

export type CompiledWitness =
  | { kind: 'directory'; name: string; path: string }
  | { kind: 'http'; name: string; url: string; headers: Readonly<Record<string, string>>; timeoutMs: number };

/** The `audit` section with units parsed and paths made absolute. */
export interface CompiledAudit {
  enabled: boolean;
  /** Absolute. */
  dir: string;
  origin: string;
  checkpointIntervalMs: number;
  checkpointRecords: number;
  groupCommitMs: number;
  groupCommitRecords: number;
  segmentBytes: number;
  segmentAgeMs: number;
  retryAfterMs: number;
  witnesses: readonly CompiledWitness[];
  /** This gateway as other gateways' witness (independent of `enabled`). */
  witnessService: CompiledWitnessService;
  /** Remote sinks fed from the local log (docs/audit.md "Remote sinks"). */
  sinks: readonly CompiledSink[];
  retention: CompiledRetention;
  /** Tenant ids named in `retention.tenants` (maps hashed log ids back to their tenant). */
  retentionTenants: readonly string[];
}

/** Compiles the section; `dataDir` is the already-resolved gateway data directory. */
export function compileAudit(a: AuditConfigInput, configDir: string, dataDir: string): CompiledAudit {
  return {
    enabled: a.enabled,
    dir: a.dir !== undefined ? resolve(configDir, a.dir) : resolve(dataDir, 'audit'),
    origin: a.origin,
    checkpointIntervalMs: Math.max(1, parseDuration(a.checkpointInterval)),
    checkpointRecords: a.checkpointRecords,
    groupCommitMs: parseDuration(a.groupCommit),
    groupCommitRecords: a.groupCommitRecords,
    segmentBytes: parseByteSize(a.segmentBytes),
    segmentAgeMs: Math.max(1, parseDuration(a.segmentAge)),
    retryAfterMs: Math.max(1, parseDuration(a.retryAfter)),
    sinks: compileSinks(a.sinks, configDir),
    witnessService: compileWitnessService(a.witnessService, configDir, dataDir),
    retention: compileRetention(a.retention),
    retentionTenants: Object.keys(a.retention.tenants),
    witnesses: a.witnesses.map((w, i) =>
      w.kind === 'directory'
        ? { kind: 'directory', name: w.name ?? `directory-${i}`, path: resolve(configDir, w.path) }
        : { kind: 'http', name: w.name ?? `http-${i}`, url: w.url, headers: { ...w.headers }, timeoutMs: parseDuration(w.timeout) },
    ),
  };
}
