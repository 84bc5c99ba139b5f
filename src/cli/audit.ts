/**
 * `portcullis audit`: offline tools for the tamper-evident audit log (docs/audit.md).
 *   audit verify --log DIR --key PUBKEY [--key …] [--checkpoint FILE …] [--origin O] [--json]
 *   audit proof  --log DIR --seq N [--key …] [--json]
 *   audit proof  --log DIR --from CP1 --to CP2 [--key …] [--json]
 * No network. Exit codes: 0 intact, 1 integrity failure (first bad seq and reason), 2 usage or
 * I/O error.
 */
import { Command } from 'commander';
import { CheckpointError, MAX_KEY_FILE_BYTES, parseVerifierKey, readFileBounded, type VerifierKey } from '../audit/checkpoint.js';
import { IntegrityError, VerifyUsageError, proveConsistency, proveInclusion, verifyLog, type VerifyReport } from '../audit/verify.js';
import { readNoteInput, usageExit } from './audit-common.js';
import { addExportCommand } from './audit-export.js';
import { addRotateKeyCommand } from './audit-rotate.js';

/** Where output goes; tests replace it. */
export interface AuditCliDeps {
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
}

const processDeps: AuditCliDeps = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  setExitCode: (c) => {
    process.exitCode = c;
  },
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--key` takes a verifier key string or a file holding one per line (e.g. `keys/<logId>.pub`). */
export function loadKeys(args: readonly string[]): VerifierKey[] {
  const keys: VerifierKey[] = [];
  for (const a of args) {
    let notKey: Error;
    try {
      keys.push(parseVerifierKey(a));
      continue;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      notKey = e;
    }
    // Not a key string: a file of keys, read with a bound (64 KiB).
    let raw: Buffer;
    try {
      raw = readFileBounded(a, MAX_KEY_FILE_BYTES);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new VerifyUsageError(`--key ${JSON.stringify(a.slice(0, 80))}: ${notKey.message} (and no such file)`);
      throw new VerifyUsageError(`--key ${a}: ${(e as Error).message}`);
    }
    if (raw.length > MAX_KEY_FILE_BYTES) throw new VerifyUsageError(`--key ${a}: larger than ${MAX_KEY_FILE_BYTES} bytes`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new VerifyUsageError(`--key ${a}: not a UTF-8 text file of verifier keys`);
    }
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
    if (lines.length === 0 || lines.length > 64) throw new VerifyUsageError(`--key ${a}: expected 1 to 64 verifier keys, one per line`);
    for (const l of lines) {
      try {
        keys.push(parseVerifierKey(l));
      } catch (e) {
        throw new VerifyUsageError(`--key ${a}: ${(e as Error).message}`);
      }
    }
  }
  return keys;
}

/** Maps an error to the exit-code contract. */
function report(d: AuditCliDeps, e: unknown, json: boolean): void {
  if (e instanceof IntegrityError) {
    if (json) d.out(JSON.stringify({ ok: false, failure: { seq: e.seq, reason: e.message } }));
    else d.out(`FAIL seq ${e.seq}: ${e.message}`);
    d.setExitCode(1);
    return;
  }
  d.err(`error: ${e instanceof Error ? e.message : String(e)}`);
  d.setExitCode(2);
}

function printVerify(d: AuditCliDeps, r: VerifyReport): void {
  if (r.failure) {
    d.out(`FAIL seq ${r.failure.seq}: ${r.failure.check}: ${r.failure.reason}`);
    return;
  }
  const span = r.size === r.firstSeq ? 'no records' : `${r.size - r.firstSeq} records (seq ${r.firstSeq}..${r.size - 1})`;
  const tail = r.unsignedTail > 0 ? `; ${r.unsignedTail === 1 ? `1 record (seq ${r.size - 1})` : `${r.unsignedTail} records (seq ${r.size - r.unsignedTail}..${r.size - 1})`} not yet covered by a signed checkpoint` : '';
  d.out(`ok: log ${r.origin ?? '(empty)'}: ${span}, ${r.checkpoints} checkpoints${tail}`);
  if (r.latestCheckpoint) d.out(`latest checkpoint: size ${r.latestCheckpoint.size} root ${r.latestCheckpoint.root}`);
  for (const w of r.witnessed) d.out(`witnessed: ${w.source} size ${w.size} consistent`);
  for (const p of r.pending.slice(0, 20)) d.out(`pending: decision seq ${p.seq} call ${p.call} has no outcome yet`);
  if (r.pending.length > 20) d.out(`pending: … ${r.pending.length - 20} more`);
  if (r.tornBytes > 0) d.out(`note: ${r.tornBytes} bytes of an unterminated final line were ignored (write in progress or crash)`);
}

/**
 * Builds the `audit` command group. Other audit subcommands hang off the returned group, e.g.
 * `addExportCommand(audit)` (src/cli/audit-export.ts) is one line in the hook below.
 */
export function auditCommand(overrides: Partial<AuditCliDeps> = {}): Command {
  const d: AuditCliDeps = { ...processDeps, ...overrides };
  const audit = new Command('audit').description('Verify the tamper-evident audit log and print Merkle proofs (offline).');

  usageExit(
    audit
      .command('verify')
      .description('Check a log directory: canonical records, seq, prev chain, signed checkpoints, witnessed checkpoints, outcomes. Exit 0 intact, 1 tampered (first bad seq), 2 usage/IO error.')
      .requiredOption('--log <dir>', 'the log directory: <audit dir>/logs/<logId>')
      .option('--key <pubkey>', "a trusted verifier key (<name>+<id>+<base64>) or a file of them (the log's keys/<logId>.pub); repeatable", collect, [] as string[])
      .option('--checkpoint <file>', 'a checkpoint held outside the log (e.g. a witness copy); repeatable', collect, [] as string[])
      .option('--origin <origin>', "the log's origin line (default: taken from the log)")
      .option('--json', 'print the report as JSON'),
  ).action((o: { log: string; key: string[]; checkpoint: string[]; origin?: string; json?: boolean }) => {
    try {
      if (o.key.length === 0) throw new VerifyUsageError('at least one --key is needed');
      const keys = loadKeys(o.key);
      const external = o.checkpoint.map((f) => ({ source: f, text: readNoteInput(f, '--checkpoint') }));
      const r = verifyLog({ logDir: o.log, keys, external, ...(o.origin !== undefined ? { origin: o.origin } : {}) });
      if (o.json) d.out(JSON.stringify(r));
      else printVerify(d, r);
      d.setExitCode(r.ok ? 0 : 1);
    } catch (e) {
      report(d, e, o.json === true);
    }
  });

  usageExit(
    audit
      .command('proof')
      .description('Print an inclusion proof of one record against the newest checkpoint (--seq), or a consistency proof between two checkpoint files (--from/--to).')
      .requiredOption('--log <dir>', 'the log directory: <audit dir>/logs/<logId>')
      .option('--seq <n>', 'the record to prove')
      .option('--from <file>', 'the older checkpoint note')
      .option('--to <file>', 'the newer checkpoint note')
      .option('--key <pubkey>', 'verify checkpoint signatures with this key (or file of keys); repeatable', collect, [] as string[])
      .option('--json', 'print the proof as JSON'),
  ).action((o: { log: string; seq?: string; from?: string; to?: string; key: string[]; json?: boolean }) => {
    try {
      const keys = loadKeys(o.key);
      if (o.seq !== undefined) {
        if (o.from !== undefined || o.to !== undefined) throw new VerifyUsageError('use either --seq or --from/--to');
        if (!/^(0|[1-9][0-9]{0,15})$/u.test(o.seq)) throw new VerifyUsageError('--seq must be a non-negative integer');
        const p = proveInclusion(o.log, Number(o.seq), keys);
        if (o.json) d.out(JSON.stringify({ origin: p.origin, leafIndex: p.leafIndex, treeSize: p.treeSize, leaf: p.leaf, root: p.root, proof: p.proof, checkpoint: p.checkpoint }));
        else {
          d.out(`log: ${p.origin ?? ''}`);
          d.out(`leaf index: ${p.leafIndex}`);
          d.out(`tree size: ${p.treeSize}`);
          d.out(`leaf hash: ${p.leaf}`);
          d.out(`root: ${p.root}`);
          d.out(`proof (${p.proof.length} hashes, leaf side first):`);
          for (const h of p.proof) d.out(`  ${h}`);
        }
      } else if (o.from !== undefined && o.to !== undefined) {
        const p = proveConsistency(o.log, readNoteInput(o.from, '--from'), readNoteInput(o.to, '--to'), keys);
        if (o.json) d.out(JSON.stringify(p));
        else {
          d.out(`log: ${p.origin}`);
          d.out(`from: size ${p.size1} root ${p.root1}`);
          d.out(`to: size ${p.size2} root ${p.root2}`);
          d.out(`proof (${p.proof.length} hashes):`);
          for (const h of p.proof) d.out(`  ${h}`);
        }
      } else {
        throw new VerifyUsageError('give --seq N, or both --from CP1 and --to CP2');
      }
      d.setExitCode(0);
    } catch (e) {
      report(d, e, o.json === true);
    }
  });

  // Hook for more audit subcommands (one line each), e.g.:
  //   addExportCommand(audit);   // src/cli/audit-export.ts
  addExportCommand(audit);
  addRotateKeyCommand(audit);
  return audit;
}
