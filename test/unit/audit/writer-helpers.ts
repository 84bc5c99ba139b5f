/** Shared pieces of the writer/recovery unit tests: a temp audit dir, a config, and a counting, fault-injecting io. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditConfig, compileAudit, type CompiledAudit } from '../../../src/audit/config.js';
import { nodeIo, type AuditIo } from '../../../src/audit/segment.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'portcullis-audit-'));
}

export function auditCfg(dir: string, over: Record<string, unknown> = {}): CompiledAudit {
  return compileAudit(AuditConfig.parse({ dir, ...over }), dir, dir);
}

/** nodeIo with counters and a switchable fault. */
export class CountingIo implements AuditIo {
  writes = 0;
  syncs = 0;
  fail: string | undefined;
  async write(fd: number, buf: Buffer, pos: number): Promise<void> {
    this.writes += 1;
    if (this.fail) {
      // A torn write first: half the batch reaches the file, then the error.
      await nodeIo.write(fd, buf.subarray(0, buf.length >> 1), pos);
      throw Object.assign(new Error(`injected ${this.fail}`), { code: this.fail });
    }
    return nodeIo.write(fd, buf, pos);
  }
  async fdatasync(fd: number): Promise<void> {
    this.syncs += 1;
    return nodeIo.fdatasync(fd);
  }
  ftruncate(fd: number, len: number): Promise<void> {
    return nodeIo.ftruncate(fd, len);
  }
}

export interface Rec {
  seq: number;
  type: string;
  prev: string;
  call?: string;
  [k: string]: unknown;
}

/** Every line of every segment of a log, in order, as text. */
export function segmentLines(auditDir: string, logId: string): string[] {
  const dir = join(auditDir, 'logs', logId);
  const out: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const l of text.split('\n')) if (l !== '') out.push(l);
  }
  return out;
}

export const records = (auditDir: string, logId: string): Rec[] => segmentLines(auditDir, logId).map((l) => JSON.parse(l) as Rec);
