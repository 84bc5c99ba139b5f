/**
 * The fields of a call's decision and outcome records, serialised straight to canonical JSON
 * (RFC 8785) members, in the groups `LogWriter.appendRaw` merges with the envelope. These two
 * records are written for every audited call, so they skip the object-then-canonicalise route
 * of other records: every key below is a literal in JCS order, every caller-supplied string is
 * bounded and well-formed (`bound`) and goes through JSON.stringify, which is JCS's string
 * form, and every number is finite. A test parses the lines and compares them with the
 * `canonicalize` package's output.
 *
 * Record shapes (docs/audit.md):
 *   tool.call.decision  {actor, args?, call, decision: {code?, reasons, result, rules}, target, trace?}
 *   tool.call.result    {call, ms, result: {bytes, hmac_sha256, is_error, keys?}, target: {kind, upstream?}}
 *   tool.call.error|timeout|cancelled  {call, error: {code, portcullis?}, ms, target}
 */
import type { CallContext } from '../../pipeline/context.js';
import type { Route } from '../route/route.js';
import { bound, keyNames } from '../../audit/records.js';
import type { PayloadMac } from '../../audit/payload-mac.js';

/** Members before "log" (`a`) and between "seq" and "ts" (`d`) of a decision record. */
export interface DecisionMembers {
  a: string;
  d: string;
}

/** Members of an outcome record: `a` before "log", `b` before "prev", `c` before "seq", `d` before "ts". */
export interface OutcomeMembers {
  a: string;
  b: string;
  c: string;
  d: string;
}

const str = JSON.stringify;

export function kindOf(method: string): string {
  if (method === 'tools/call') return 'tool';
  if (method === 'prompts/get') return 'prompt';
  if (method === 'completion/complete') return 'completion';
  return 'resource';
}

/** `{authn, client_id?, issuer?, sub, tenant}` of the caller. */
export function actorJson(ctx: CallContext): string {
  const p = ctx.principal;
  return `{"authn":${str(bound(p.authMethod))}${p.clientId !== undefined ? `,"client_id":${str(bound(p.clientId))}` : ''}${p.issuer !== undefined ? `,"issuer":${str(bound(p.issuer))}` : ''},"sub":${str(bound(p.subject))},"tenant":${str(bound(p.tenant))}}`;
}

/** `{bytes, hmac_sha256, <extra>, keys?}` of a payload, from its JSON text (`extra`: members sorting between them). */
function digestJson(mac: PayloadMac, value: unknown, text: string, extra = ''): string {
  const d = mac.digest(text);
  const keys = keyNames(value);
  return `{"bytes":${d.bytes},"hmac_sha256":"${d.hex}"${extra}${keys ? `,"keys":${str(keys)}` : ''}}`;
}

/** The arguments' digest, for the methods that carry arguments; else ''. */
function argsJson(ctx: CallContext, mac: PayloadMac): string {
  const method = ctx.request.method;
  const params = ctx.request.params ?? {};
  let value: unknown;
  if (method === 'tools/call' || method === 'prompts/get') value = params.arguments ?? {};
  else if (method === 'completion/complete') value = params.argument ?? {};
  else return '';
  return digestJson(mac, value, JSON.stringify(value));
}

/** `{kind, method, prompt?, tool?, upstream?, uri?, vserver}` of a decision. */
function targetJson(ctx: CallContext, r: Route | undefined, mac: PayloadMac): string {
  const method = ctx.request.method;
  const params = ctx.request.params ?? {};
  const up = r?.kind === 'upstream' ? r : undefined;
  let out = `{"kind":"${kindOf(method)}","method":${str(bound(method))}`;
  if (method === 'prompts/get') out += `,"prompt":${str(bound(up?.target ? up.target.exposed : params.name))}`;
  if (method === 'tools/call') out += `,"tool":${str(bound(up?.target ? up.target.exposed : params.name))}`;
  if (up) out += `,"upstream":${str(bound(up.upstream, 64))}`;
  if (typeof params.uri === 'string') {
    // A URI can carry secrets (query strings): its scheme names the kind of thing, the HMAC binds it.
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]{0,31}):/.exec(params.uri);
    out += `,"uri":{"hmac_sha256":"${mac.digest(JSON.stringify(params.uri)).hex}","scheme":${str(m ? m[1] : '')}}`;
  }
  return `${out},"vserver":${str(bound(ctx.view.name, 64))}}`;
}

/** The W3C trace id of the call, if it has one. */
function traceOf(ctx: CallContext): string | undefined {
  const tp = ctx.traceparent;
  return tp !== undefined && tp.length >= 35 ? bound(tp.slice(3, 35)) : undefined;
}

/**
 * A decision: `result` is allow, deny or require_approval; `code` the refusal's error code;
 * the policy's rule and reason come from ctx.decision or, for a refusal, from the error.
 */
export function decisionMembers(ctx: CallContext, r: Route | undefined, mac: PayloadMac, result: string, code: string | undefined, rule: unknown, reason: unknown): DecisionMembers {
  const ruleText = ctx.decision?.rule !== undefined ? bound(ctx.decision.rule, 128) : typeof rule === 'string' ? bound(rule, 128) : undefined;
  const reasonText = ctx.decision?.reason !== undefined ? bound(ctx.decision.reason) : typeof reason === 'string' ? bound(reason) : undefined;
  const args = argsJson(ctx, mac);
  const decision = `{${code !== undefined ? `"code":${str(bound(code))},` : ''}"reasons":[${reasonText !== undefined ? str(reasonText) : ''}],"result":${str(result)},"rules":[${ruleText !== undefined ? str(ruleText) : ''}]}`;
  const trace = traceOf(ctx);
  return {
    a: `"actor":${actorJson(ctx)}${args !== '' ? `,"args":${args}` : ''},"call":${str(bound(ctx.id))},"decision":${decision}`,
    d: `"target":${targetJson(ctx, r, mac)}${trace !== undefined ? `,"trace":${str(trace)}` : ''}`,
  };
}

/** `{kind, upstream?}` of an outcome. */
function outcomeTarget(method: string, r: Route | undefined): string {
  return `"target":{"kind":"${kindOf(method)}"${r?.kind === 'upstream' ? `,"upstream":${str(bound(r.upstream, 64))}` : ''}}`;
}

/** Up to this many µs (11.5 days), msText builds the text from integers. */
const MS_TEXT_MAX_US = 1e12;

/**
 * A whole number of µs as milliseconds in JSON's (and JCS's) number form: the same text as
 * `String(us / 1000)`, built from integers below MS_TEXT_MAX_US because converting a fraction to
 * its shortest decimal was a measurable part of every outcome record.
 */
export function msText(us: number): string {
  if (!(us >= 0 && us < MS_TEXT_MAX_US)) return String(us / 1000);
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits -= 1;
  }
  const f = String(frac);
  return `${whole}.${f.length < digits ? '0'.repeat(digits - f.length) + f : f}`;
}

/** The call's gateway time in ms, to the µs. */
function msOf(ctx: CallContext): string {
  return msText(Math.max(0, Math.round(Number(process.hrtime.bigint() - ctx.startedAt) / 1000)));
}

/** A result outcome: `text` is the result's JSON text as the client received it. */
export function resultMembers(ctx: CallContext, r: Route | undefined, mac: PayloadMac, result: Record<string, unknown>, text: string): OutcomeMembers {
  const rec = digestJson(mac, result, text, `,"is_error":${result.isError === true}`);
  return { a: `"call":${str(bound(ctx.id))}`, b: `"ms":${msOf(ctx)}`, c: `"result":${rec}`, d: outcomeTarget(ctx.request.method, r) };
}

/** An error, timeout or cancellation outcome. */
export function errorMembers(ctx: CallContext, r: Route | undefined, rpcCode: number, code: string | undefined): OutcomeMembers {
  const error = `{"code":${Number.isFinite(rpcCode) ? rpcCode : 0}${code !== undefined ? `,"portcullis":${str(bound(code))}` : ''}}`;
  return { a: `"call":${str(bound(ctx.id))},"error":${error}`, b: `"ms":${msOf(ctx)}`, c: '', d: outcomeTarget(ctx.request.method, r) };
}
