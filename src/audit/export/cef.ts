/**
 * CEF (ArcSight Common Event Format, rev. 25) view of audit records, one line per record:
 * `CEF:0|Portcullis|Portcullis|<version>|<signatureId>|<name>|<severity>|<extension>`.
 * Tool names and argument keys come from callers and upstreams, so every string goes through the
 * escapers below (log injection, CWE-117; checklist I8).
 */
import type { StoredRecord } from './segments.js';

// C0 controls other than CR/LF, DEL, C1 controls (incl. NEL U+0085), the line/paragraph
// separators and the bidi controls — overrides, isolates and the marks ALM U+061C, LRM U+200E,
// RLM U+200F, which can reorder what an analyst sees (Trojan Source): none may reach a terminal
// or a line-splitting parser.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const REPLACEMENT = '\ufffd';

/** A CEF header field: `\` → `\\`, `|` → `\|`, CR/LF → space, other unsafe characters → U+FFFD. */
export function cefHeader(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r\n|[\r\n]/g, ' ').replace(UNSAFE, REPLACEMENT);
}

/** A CEF extension value: `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`, other unsafe characters → U+FFFD. */
export function cefValue(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(UNSAFE, REPLACEMENT);
}

const NAMES: Record<string, string> = {
  'authn.success': 'Authentication succeeded',
  'authn.failure': 'Authentication failed',
  'tool.list': 'Tool list served',
  'tool.call.decision': 'Tool call decision',
  'tool.call.result': 'Tool call result',
  'tool.call.error': 'Tool call error',
  'tool.call.timeout': 'Tool call timed out',
  'tool.call.cancelled': 'Tool call cancelled',
  'tool.call.outcome_unknown': 'Tool call outcome unknown',
  'ratelimit.exceeded': 'Rate limit exceeded',
  'policy.changed': 'Policy changed',
  'config.changed': 'Configuration changed',
  'upstream.health': 'Upstream health changed',
  'audit.checkpoint': 'Audit checkpoint',
  'audit.gap': 'Audit gap',
  'audit.recovery': 'Audit recovery',
  'audit.key_rotated': 'Audit key rotated',
  'audit.retention': 'Audit retention',
};

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
/**
 * A list as one value: in each item a backslash is doubled and a comma gets a backslash before it,
 * then the items are joined with ','. So ["a,b","c"] stays two items, a\,b,c, before cefValue's
 * CEF escaping (which doubles that backslash again). A reader undoes the CEF escaping, splits on
 * commas not preceded by a backslash, then unescapes each item.
 */
export const cefList = (v: unknown): string | undefined =>
  Array.isArray(v) ? v.map((x) => (str(x) ?? '').replace(/\\/g, '\\\\').replace(/,/g, '\\,')).join(',') : undefined;
const list = cefList;

/** CEF severity 0–10 for a record: denials and failures rank above routine traffic. */
export function cefSeverity(r: StoredRecord): number {
  const decision = str(obj(r.record.decision).result);
  if (r.type === 'audit.gap') return 9;
  if (r.type.startsWith('detect.')) return 8;
  if (decision === 'deny' || r.type === 'authn.failure' || r.type === 'ratelimit.exceeded') return 5;
  if (r.type === 'tool.call.error' || r.type === 'tool.call.timeout' || r.type === 'tool.call.outcome_unknown' || r.type === 'audit.recovery') return 4;
  if (r.type.startsWith('admin.') || r.type.endsWith('.changed') || decision === 'require_approval') return 3;
  return 1;
}

/** One record as one CEF line (no trailing newline). */
export function toCef(r: StoredRecord, version: string): string {
  const rec = r.record;
  const actor = obj(rec.actor);
  const target = obj(rec.target);
  const decision = obj(rec.decision);
  const args = obj(rec.args);
  const error = obj(rec.error);
  const ms = Date.parse(r.ts);
  const ext: [string, string | undefined][] = [
    ['rt', Number.isFinite(ms) ? String(ms) : undefined],
    ['cs1Label', 'log'],
    ['cs1', r.log],
    ['cn1Label', 'seq'],
    ['cn1', String(r.seq)],
    ['cat', r.type],
    ['externalId', str(rec.call)],
    ['suser', str(actor.sub)],
    ['requestClientApplication', str(actor.client_id)],
    ['cs2Label', target.tool !== undefined || target.prompt !== undefined || target.uri !== undefined ? 'tool' : undefined],
    ['cs2', str(target.tool) ?? str(target.prompt) ?? str(target.uri)],
    ['cs3Label', target.upstream !== undefined ? 'upstream' : undefined],
    ['cs3', str(target.upstream)],
    ['cs4Label', target.vserver !== undefined ? 'vserver' : undefined],
    ['cs4', str(target.vserver)],
    ['act', str(decision.result)],
    ['reason', list(decision.reasons) ?? str(decision.code) ?? str(error.code)],
    ['cs5Label', decision.rules !== undefined ? 'rules' : undefined],
    ['cs5', list(decision.rules)],
    ['cs6Label', args.keys !== undefined ? 'argKeys' : undefined],
    ['cs6', list(args.keys)],
    ['flexString1Label', actor.tenant !== undefined ? 'tenant' : undefined],
    ['flexString1', str(actor.tenant)],
    ['flexString2Label', rec.trace !== undefined ? 'trace' : undefined],
    ['flexString2', str(rec.trace)],
  ];
  const extension = ext
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${cefValue(v)}`)
    .join(' ');
  const name = NAMES[r.type] ?? r.type;
  return `CEF:0|Portcullis|Portcullis|${cefHeader(version)}|${cefHeader(r.type)}|${cefHeader(name)}|${cefSeverity(r)}|${extension}`;
}
