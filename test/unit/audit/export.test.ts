// Exports of the audit log (docs/audit.md "Exports"): JSONL byte-for-byte, OCSF classes and
// required attributes, CEF escaping, the batch trailer, tenant separation (I8, I10).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { AuditConfig, compileAudit } from '../../../src/audit/config.js';
import { LogWriter } from '../../../src/audit/writer.js';
import { nodeIo } from '../../../src/audit/segment.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { exportLog, parseBound, type ExportFormat } from '../../../src/audit/export/export.js';
import { cefHeader, cefValue, toCef } from '../../../src/audit/export/cef.js';
import { OCSF_CLASS, ocsfClassOf } from '../../../src/audit/export/ocsf.js';
import { InvalidTenantError, parseStored, readRecords, tenantLogDir } from '../../../src/audit/export/segments.js';
import { verifyCheckpoint, parseVerifierKey } from '../../../src/audit/checkpoint.js';
import { addExportCommand } from '../../../src/cli/audit-export.js';

// The I8 strings: newline, CR, pipe, equals, backslash, U+2028, U+2029, ANSI escapes.
const EVIL_TOOLS = [
  'evil\nCEF:0|Forged|Forged|1|x|y|10|src=6.6.6.6',
  'pipe|and=equals\\back',
  '\u001b[31mred\u001b[0m\u001b]0;title\u0007',
  'sep\u2028line\u2029para',
  'cr\rhere\r\nthere',
];
const EVIL_KEYS = ['a\nb', 'k=v', 'p|q', '\u001b[2J', 'x\u2028y'];

async function openWriter(auditDir: string, tenant: string): Promise<LogWriter> {
  const cfg = compileAudit(AuditConfig.parse({ checkpointInterval: '1h', groupCommit: '1ms' }), auditDir, auditDir);
  return LogWriter.open({ auditDir, logId: `t-${tenant}`, origin: `test/${tenant}`, cfg, io: nodeIo, log: silentLogger, witnesses: [], onDurable: () => {} });
}

async function collect(logDir: string, format: ExportFormat, range = {}): Promise<string[]> {
  const lines: string[] = [];
  await exportLog({ logDir, format, range, productVersion: '9.9.9', write: (l) => void lines.push(l) });
  return lines;
}

/** Splits a CEF line into its 7 header fields and the extension, honouring `\|` escapes. */
function parseCef(line: string): { header: string[]; ext: Map<string, string> } {
  const header: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      continue;
    }
    if (c === '|') {
      header.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  const rest = line.slice(i);
  const ext = new Map<string, string>();
  // Keys start after a space (or at the start) and end at an unescaped '='.
  const parts = rest.split(/ (?=[A-Za-z0-9_]+=)/);
  for (const p of parts) {
    const eq = p.indexOf('=');
    const raw = p.slice(eq + 1);
    assert.ok(!/(^|[^\\])(\\\\)*=/.test(raw.replace(/\\=/g, '')), `unescaped = in ${JSON.stringify(raw)}`);
    ext.set(p.slice(0, eq), raw.replace(/\\(.)/g, (_m, ch: string) => (ch === 'n' ? '\n' : ch === 'r' ? '\r' : ch)));
  }
  return { header, ext };
}

describe('audit export', () => {
  let dir: string;
  let acme: string;
  const decisions: number[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-export-'));
    const w = await openWriter(dir, 'acme');
    const other = await openWriter(dir, 'other');
    w.append('authn.success', { actor: { sub: 'user:alice', tenant: 'acme', client_id: 'ide-1', authn: 'oauth2:jwt' } }, false);
    for (const tool of EVIL_TOOLS) {
      decisions.push(
        await w.append(
          'tool.call.decision',
          {
            call: `c-${decisions.length}`,
            actor: { sub: 'user:alice', tenant: 'acme', client_id: 'ide-1', authn: 'oauth2:jwt', ip: '203.0.113.7' },
            target: { vserver: 'default', upstream: 'gh|up=1', tool, kind: 'tool' },
            decision: { result: decisions.length % 2 ? 'deny' : 'allow', rules: ['r=1'], reasons: ['why\nnot'] },
            args: { keys: EVIL_KEYS, hmac_sha256: 'ab'.repeat(32), bytes: 12 },
          },
          true,
        ),
      );
    }
    w.append('tool.call.error', { call: 'c-0', error: { code: 'ERR_UPSTREAM_TIMEOUT', portcullis: true } }, false);
    w.append('policy.changed', { entity: { name: 'p-17', type: 'policy' } }, false);
    w.append('admin.key.revoked' as 'admin.x', { entity: { name: 'k1', type: 'api_key' } }, false);
    w.append('authn.failure', { actor: { sub: 'user:mallory', tenant: 'acme' }, reason: 'bad token' }, false);
    // Types other issues add (approvals, detectors, filters): the export already maps them.
    w.append('approval.granted' as 'admin.x', { call: 'c-1', actor: { sub: 'user:bob', tenant: 'acme' }, target: { tool: 't1' } }, false);
    w.append('detect.injection' as 'admin.x', { call: 'c-2', actor: { sub: 'user:alice', tenant: 'acme' }, filters: [{ kind: 'injection', rule: 'ignore-previous', count: 1 }] }, false);
    w.append('filter.redaction' as 'admin.x', { call: 'c-3', actor: { sub: 'user:alice', tenant: 'acme' }, filters: [{ kind: 'secret', rule: 'github-pat', count: 1, field: 'args.body' }] }, false);
    other.append('authn.success', { actor: { sub: 'user:bob', tenant: 'other' } }, false);
    await w.close(); // signs a checkpoint covering everything above, then appends audit.checkpoint
    await other.close();
    acme = tenantLogDir(dir, 'acme');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('JSONL: every record is the stored line byte for byte, one line each, then a trailer (I8)', async () => {
    const lines = await collect(acme, 'jsonl');
    const stored = readdirSync(acme)
      .filter((n) => n.startsWith('seg-'))
      .sort()
      .flatMap((n) => readFileSync(join(acme, n), 'utf8').split('\n').filter(Boolean));
    assert.deepEqual(lines.slice(0, -1), stored);
    for (const l of lines) assert.ok(!l.includes('\n') && !l.includes('\r'));
    const trailer = JSON.parse(lines.at(-1)!) as { portcullis_export: { log: string; first_seq: number; last_seq: number; count: number; checkpoint: unknown } };
    assert.equal(trailer.portcullis_export.log, 'test/acme');
    assert.equal(trailer.portcullis_export.first_seq, 0);
    assert.equal(trailer.portcullis_export.last_seq, stored.length - 1);
    assert.equal(trailer.portcullis_export.count, stored.length);
    // The final audit.checkpoint record is not yet covered by a checkpoint.
    assert.equal(trailer.portcullis_export.checkpoint, null);
    // Every tool name survives as data in exactly one record.
    for (const tool of EVIL_TOOLS) assert.equal(lines.filter((l) => l.includes(JSON.stringify(tool).slice(1, -1))).length, 1, tool);
  });

  it('JSONL: the trailer names the signed checkpoint that covers last_seq, and it verifies', async () => {
    const last = decisions.at(-1)!;
    const lines = await collect(acme, 'jsonl', parseBound(String(last), 'to'));
    const t = (JSON.parse(lines.at(-1)!) as { portcullis_export: { last_seq: number; checkpoint: { size: number; note: string } } }).portcullis_export;
    assert.equal(t.last_seq, last);
    assert.ok(t.checkpoint.size > last);
    const pub = readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim();
    assert.equal(verifyCheckpoint(t.checkpoint.note, [parseVerifierKey(pub)]).size, t.checkpoint.size);
  });

  it('CEF: one line per record, header pipes escaped, extension = and \\ escaped, no control characters (I8)', async () => {
    const lines = await collect(acme, 'cef');
    const records: unknown[] = [];
    for await (const r of readRecords(acme)) records.push(r);
    assert.equal(lines.length, records.length + 1);
    for (const l of lines) {
      assert.ok(l.startsWith('CEF:0|Portcullis|Portcullis|9.9.9|'), l);
      // eslint-disable-next-line no-control-regex
      assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(l), `control character in ${JSON.stringify(l)}`);
    }
    const decisionLines = lines.filter((l) => l.includes('|tool.call.decision|'));
    assert.equal(decisionLines.length, EVIL_TOOLS.length);
    decisionLines.forEach((l, i) => {
      const { header, ext } = parseCef(l);
      assert.equal(header.length, 7);
      assert.equal(header[4], 'tool.call.decision');
      const tool = EVIL_TOOLS[i]!;
      const expected = tool.replace(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd'); // eslint-disable-line no-control-regex
      assert.equal(ext.get('cs2'), expected);
      assert.equal(ext.get('cs2Label'), 'tool');
      assert.equal(ext.get('cs3'), 'gh|up=1');
      assert.equal(ext.get('cs1'), 'test/acme');
      assert.equal(ext.get('cn1'), String(decisions[i]));
      assert.equal(ext.get('reason'), 'why\nnot');
      assert.equal(ext.get('cs5'), 'r=1');
      assert.equal(ext.get('cs6')!.split(',').length, EVIL_KEYS.length);
    });
    // The forged "CEF:0|Forged" inside a tool name never starts a line of its own.
    assert.equal(lines.filter((l) => l.startsWith('CEF:0|Forged')).length, 0);
    const trailer = parseCef(lines.at(-1)!);
    assert.equal(trailer.header[4], 'audit.export');
    assert.equal(trailer.ext.get('cn1'), '0');
    assert.equal(trailer.ext.get('cn2'), String(records.length - 1));
  });

  it('CEF lists (cs6 argument keys, reason, cs5 rules) keep items with "," or "\\" apart', () => {
    const keys = ['a,b', 'c', 'd\\,e', 'f\\', ''];
    const reasons = ['x,y', 'z=1'];
    const rec = { v: 1, log: 't/acme', seq: 1, ts: '2026-01-01T00:00:00Z', type: 'tool.call.decision', call: 'c', args: { keys, bytes: 1 }, decision: { result: 'deny', rules: ['r,1'], reasons } };
    const { ext } = parseCef(toCef(parseStored(JSON.stringify(rec)), '1'));
    /** docs/audit.md: after CEF unescaping, split on ',' not escaped by '\\', then unescape each item. */
    const split = (v: string): string[] => {
      const out: string[] = [];
      let cur = '';
      for (let i = 0; i < v.length; i++) {
        if (v[i] === '\\') cur += v[++i] ?? '';
        else if (v[i] === ',') {
          out.push(cur);
          cur = '';
        } else cur += v[i];
      }
      return [...out, cur];
    };
    assert.deepEqual(split(ext.get('cs6')!), keys);
    assert.deepEqual(split(ext.get('reason')!), reasons);
    assert.deepEqual(split(ext.get('cs5')!), ['r,1']);
  });

  it('CEF escapers follow the spec', () => {
    assert.equal(cefHeader('a|b\\c\nd\re'), 'a\\|b\\\\c d e');
    assert.equal(cefValue('a=b\\c\nd\re|f'), 'a\\=b\\\\c\\nd\\re|f');
    assert.equal(cefValue('\u001b[31m\u2028\u2029\u0000\u202e'), '\ufffd[31m\ufffd\ufffd\ufffd\ufffd');
    assert.equal(cefHeader('\u001b]0;x\u0007'), '\ufffd]0;x\ufffd');
  });

  it('CEF: the bidi marks LRM, RLM and ALM become U+FFFD like the bidi overrides and isolates', () => {
    const marks = ['\u200e', '\u200f', '\u061c'];
    for (const m of marks) {
      assert.equal(cefValue(`a${m}b`), 'a\ufffdb', `value ${JSON.stringify(m)}`);
      assert.equal(cefHeader(`a${m}b`), 'a\ufffdb', `header ${JSON.stringify(m)}`);
    }
    // Trojan-Source style: a tool name whose marks would reorder what an analyst sees.
    const tool = `rm\u200f -rf\u061c /\u200e\u202e`;
    const rec = { v: 1, log: 't/acme', seq: 1, ts: '2026-01-01T00:00:00Z', type: `x${marks.join('')}`, target: { tool }, args: { keys: marks } };
    const line = toCef(parseStored(JSON.stringify(rec)), '1');
    assert.ok(!/[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/.test(line), JSON.stringify(line));
    assert.equal(parseCef(line).ext.get('cs2'), 'rm\ufffd -rf\ufffd /\ufffd\ufffd');
  });

  it('OCSF: classes, type_uid, metadata and required attributes per class (I10)', async () => {
    const lines = await collect(acme, 'ocsf');
    const events = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const l of lines) assert.ok(!/[\u2028\u2029]/.test(l) && !l.includes('\n'));
    const byClass = new Map<number, Record<string, any>[]>(); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const e of events) byClass.set(e.class_uid, [...(byClass.get(e.class_uid) ?? []), e]);
    for (const c of Object.values(OCSF_CLASS)) assert.ok(byClass.has(c), `class ${c} present`);
    for (const e of events) {
      // Base event (ocsf-schema events/base_event.json): required attributes.
      for (const k of ['class_uid', 'category_uid', 'activity_id', 'type_uid', 'time', 'severity_id', 'metadata']) assert.ok(e[k] !== undefined, `${k} in ${e.class_uid}`);
      assert.equal(e.category_uid, Math.floor(e.class_uid / 1000));
      assert.equal(e.type_uid, e.class_uid * 100 + e.activity_id);
      assert.ok(Number.isInteger(e.time) && e.time > 0);
      assert.equal(e.metadata.product.name, 'Portcullis');
      assert.equal(e.metadata.product.version, '9.9.9');
      assert.match(e.metadata.version, /^1\.\d+\.\d+(-dev)?$/);
      assert.equal(e.metadata.log_name, 'test/acme');
      assert.equal(typeof e.metadata.sequence, 'number');
      assert.equal(e.metadata.uid, `test/acme:${e.metadata.sequence}`);
    }
    for (const e of byClass.get(OCSF_CLASS.apiActivity)!) {
      // events/application/api_activity.json: actor, api, src_endpoint required; api.operation required.
      assert.ok(e.actor && (e.actor.user || e.actor.app_name || e.actor.app_uid));
      assert.ok(typeof e.api.operation === 'string' && e.api.service.name);
      assert.ok(e.src_endpoint && (e.src_endpoint.ip || e.src_endpoint.name));
    }
    const calls = byClass.get(OCSF_CLASS.apiActivity)!.filter((e) => e.message === 'tool.call.decision');
    assert.equal(calls.length, EVIL_TOOLS.length);
    calls.forEach((e, i) => {
      assert.equal(e.api.operation, 'tools/call');
      assert.equal(e.api.service.name, 'gh|up=1');
      assert.equal(e.resources[0].name, EVIL_TOOLS[i]);
      assert.equal(e.actor.user.uid, 'user:alice');
      assert.equal(e.src_endpoint.ip, '203.0.113.7');
      assert.equal(e.disposition_id, i % 2 ? 2 : 1);
      assert.equal(e.status_id, i % 2 ? 2 : 1);
      assert.equal(e.metadata.sequence, decisions[i]);
      assert.equal(e.ai_agent.uid, 'ide-1');
    });
    for (const e of byClass.get(OCSF_CLASS.authentication)!) assert.ok(e.user.uid || e.user.name); // iam/authentication.json: user required
    assert.deepEqual(byClass.get(OCSF_CLASS.authentication)!.map((e) => e.status_id).sort(), [1, 2]);
    for (const e of byClass.get(OCSF_CLASS.entityManagement)!) assert.ok(e.entity.name || e.entity.uid); // iam/entity_management.json: entity required
    assert.deepEqual(byClass.get(OCSF_CLASS.entityManagement)!.map((e) => e.activity_id).sort(), [3, 4]);
    assert.equal(byClass.get(OCSF_CLASS.applicationError)![0]!.message, 'ERR_UPSTREAM_TIMEOUT');
    // iam/authorize_session.json: user required.
    for (const e of byClass.get(OCSF_CLASS.authorizeSession)!) assert.equal(e.user.uid, 'user:bob');
    // findings/finding.json: finding_info (uid required); finding status_id 1 = New.
    for (const c of [OCSF_CLASS.detectionFinding, OCSF_CLASS.dataSecurityFinding]) {
      for (const e of byClass.get(c)!) {
        assert.equal(e.category_uid, 2);
        assert.equal(e.finding_info.uid, `test/acme:${e.metadata.sequence}`);
        assert.equal(e.status_id, 1);
        assert.ok(e.finding_info.analytic.name);
      }
    }
    assert.equal(byClass.get(OCSF_CLASS.dataSecurityFinding)![0]!.data_security.detection_pattern, 'github-pat');
  });

  it('OCSF: finding and authorization classes for detections, redactions and approvals', () => {
    assert.equal(ocsfClassOf('detect.injection').classUid, 2004);
    assert.equal(ocsfClassOf('detect.poisoning').classUid, 2004);
    assert.equal(ocsfClassOf('filter.redaction').classUid, 2006);
    assert.equal(ocsfClassOf('approval.granted').classUid, 3003);
    assert.equal(ocsfClassOf('authn.failure').classUid, 3002);
    assert.equal(ocsfClassOf('config.changed').classUid, 3004);
    assert.equal(ocsfClassOf('tool.call.result').classUid, 6003);
    assert.equal(ocsfClassOf('tool.list').activityId, 2);
  });

  it('exports of one tenant contain only that tenant; path-like tenant ids are refused (I10)', async () => {
    for (const f of ['jsonl', 'ocsf', 'cef'] as const) {
      const lines = await collect(tenantLogDir(dir, 'other'), f);
      assert.equal(lines.length, 2 + 1, f); // authn.success + the close checkpoint record + trailer
      assert.ok(lines.every((l) => !l.includes('acme') && !l.includes('alice')), f);
    }
    for (const bad of ['../t-acme', 'a/b', '..', '.', 'x\\y', 'nul\u0000', '']) assert.throws(() => tenantLogDir(dir, bad), InvalidTenantError, JSON.stringify(bad));
  });

  it('ranges by seq and by ISO time', async () => {
    const bySeq = await collect(acme, 'jsonl', { ...parseBound('2', 'from'), ...parseBound('4', 'to') });
    assert.deepEqual(bySeq.slice(0, -1).map((l) => (JSON.parse(l) as { seq: number }).seq), [2, 3, 4]);
    const none = await collect(acme, 'jsonl', parseBound('2000-01-01T00:00:00Z', 'to'));
    assert.equal(none.length, 1);
    assert.deepEqual(JSON.parse(none[0]!), { portcullis_export: { format: 'jsonl', log: null, first_seq: null, last_seq: null, count: 0, checkpoint: null } });
    assert.throws(() => parseBound('yesterday', 'from'), RangeError);
  });

  it('a segment that is not a regular file (a FIFO, a directory) is refused, naming it, without hanging', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'pc-export-seg-'));
    const fifo = join(logDir, `seg-${'1'.padStart(20, '0')}.jsonl`);
    try {
      // A good first segment, then a non-regular one where the next segment should be.
      writeFileSync(join(logDir, `seg-${'0'.padStart(20, '0')}.jsonl`), readFileSync(join(acme, readdirSync(acme).filter((n) => n.startsWith('seg-')).sort()[0]!), 'utf8').split('\n')[0] + '\n');
      for (const kind of ['fifo', 'directory'] as const) {
        if (kind === 'fifo') assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
        else mkdirSync(fifo);
        const read = (async () => {
          for await (const r of readRecords(logDir)) void r;
        })();
        const timeout = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000).unref());
        const outcome = await Promise.race([read.then(() => 'done', (e: unknown) => e as Error), timeout]);
        assert.notEqual(outcome, 'hung', `${kind}: readRecords hung`);
        assert.ok(outcome instanceof Error, `${kind}: readRecords finished without an error`);
        assert.match(outcome.message, /not a regular file/, kind);
        assert.ok(outcome.message.includes(fifo), `${kind}: ${outcome.message}`);
        await assert.rejects(collect(logDir, 'jsonl'), /not a regular file/, kind);
        rmSync(fifo, { recursive: true, force: true });
      }
    } finally {
      // A reader stuck opening the FIFO (the defect) is released by a writer that opens and closes it.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        /* no reader waiting, or no FIFO */
      }
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  it('CLI: portcullis audit export --log-dir --tenant --format --out', async () => {
    const audit = new Command('audit').exitOverride();
    addExportCommand(audit);
    const out = join(dir, 'out.cef');
    await audit.parseAsync(['export', '--log-dir', dir, '--tenant', 'acme', '--from', '1', '--to', '3', '--format', 'cef', '--out', out], { from: 'user' });
    const lines = readFileSync(out, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 4);
    assert.ok(lines.slice(0, 3).every((l) => l.includes('|tool.call.decision|')));
    const errs: string[] = [];
    const origWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
    try {
      await audit.parseAsync(['export', '--log-dir', dir, '--tenant', '../x', '--out', join(dir, 'never')], { from: 'user' });
    } finally {
      process.stderr.write = origWrite;
    }
    assert.equal(process.exitCode, 2);
    process.exitCode = 0;
    assert.match(errs.join(''), /invalid tenant id/);
  });
});
