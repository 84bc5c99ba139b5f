/**
 * OCSF view of audit records (schema 1.x; class definitions in github.com/ocsf/ocsf-schema
 * `events/application/api_activity.json`, `events/iam/{authentication,authorize_session,
 * entity_management}.json`, `events/findings/{detection_finding,data_security_finding}.json`,
 * `events/application/application_error.json`). One JSON object per record. A view only:
 * integrity is proven on the JSONL and the checkpoints.
 */
import type { StoredRecord } from './segments.js';

/**
 * The OCSF schema version the mapping targets: the development line, because agent identity uses
 * its `ai_operation` profile (`ai_agent`), as the design asks; every other attribute used here is
 * also in the released 1.x schemas.
 */
export const OCSF_VERSION = '1.9.0-dev';

/** class_uid = category_uid * 1000 + class number (categories: 2 Findings, 3 IAM, 6 Application Activity). */
export const OCSF_CLASS = {
  detectionFinding: 2004,
  dataSecurityFinding: 2006,
  authentication: 3002,
  authorizeSession: 3003,
  entityManagement: 3004,
  apiActivity: 6003,
  applicationError: 6008,
} as const;

const SEVERITY = { informational: 1, low: 2, medium: 3, high: 4, critical: 5 } as const;
const STATUS = { unknown: 0, success: 1, failure: 2 } as const;
// disposition_id (dictionary.json): 1 Allowed, 2 Blocked, 14 Delayed (held for approval).
const DISPOSITION = { allow: { id: 1, name: 'Allowed' }, deny: { id: 2, name: 'Blocked' }, require_approval: { id: 14, name: 'Delayed' } } as const;
const ACTION = { allow: { id: 1, name: 'Allowed' }, deny: { id: 2, name: 'Denied' } } as const;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Which OCSF class a record type maps to, with its activity. */
export function ocsfClassOf(type: string, rec: Json = {}): { classUid: number; activityId: number; activityName: string } {
  if (type === 'authn.success' || type === 'authn.failure') return { classUid: OCSF_CLASS.authentication, activityId: 1, activityName: 'Logon' };
  if (type.startsWith('approval.')) return { classUid: OCSF_CLASS.authorizeSession, activityId: 1, activityName: 'Assign Privileges' };
  if (type === 'policy.changed' || type === 'config.changed' || type.startsWith('admin.') || type.startsWith('tool.definition.') || type === 'audit.key_rotated') {
    const verb = type.split('.').pop() ?? '';
    if (/^(create|created|add|added|pinned)$/.test(verb)) return { classUid: OCSF_CLASS.entityManagement, activityId: 1, activityName: 'Create' };
    if (/^(delete|deleted|remove|removed|revoke|revoked)$/.test(verb)) return { classUid: OCSF_CLASS.entityManagement, activityId: 4, activityName: 'Delete' };
    return { classUid: OCSF_CLASS.entityManagement, activityId: 3, activityName: 'Update' };
  }
  if (type.startsWith('detect.')) return { classUid: OCSF_CLASS.detectionFinding, activityId: 1, activityName: 'Create' };
  if (type === 'filter.redaction') return { classUid: OCSF_CLASS.dataSecurityFinding, activityId: 1, activityName: 'Create' };
  if (type === 'tool.call.error' && obj(rec.error).portcullis === true) return { classUid: OCSF_CLASS.applicationError, activityId: 1, activityName: 'General Error' };
  if (type === 'audit.gap' || type === 'audit.recovery') return { classUid: OCSF_CLASS.applicationError, activityId: 1, activityName: 'General Error' };
  // Tool/prompt/resource traffic, rate limits, health and the log's own checkpoints: API Activity.
  // MCP methods are not CRUD; `tools/list`, `resources/read`, `prompts/get` are reads, a call is
  // "Other" (99) because its effect is whatever the tool does.
  const kind = str(obj(rec.target).kind);
  if (type === 'tool.list' || kind === 'resource' || kind === 'prompt' || type === 'audit.checkpoint' || type === 'upstream.health') {
    return { classUid: OCSF_CLASS.apiActivity, activityId: 2, activityName: 'Read' };
  }
  return { classUid: OCSF_CLASS.apiActivity, activityId: 99, activityName: 'Other' };
}

function severity(type: string, rec: Json): number {
  const result = str(obj(rec.decision).result);
  if (type === 'audit.gap') return SEVERITY.critical;
  if (type.startsWith('detect.')) return SEVERITY.high;
  if (result === 'deny' || type === 'authn.failure' || type === 'ratelimit.exceeded' || type === 'audit.recovery') return SEVERITY.medium;
  if (type === 'tool.call.error' || type === 'tool.call.timeout' || type === 'tool.call.outcome_unknown' || type === 'filter.redaction') return SEVERITY.low;
  return SEVERITY.informational;
}

function status(type: string, rec: Json): { status_id: number; status: string; status_code?: string } {
  const result = str(obj(rec.decision).result);
  const code = str(obj(rec.decision).code) ?? str(obj(rec.error).code);
  const failed =
    result === 'deny' ||
    type === 'authn.failure' ||
    type === 'ratelimit.exceeded' ||
    type === 'tool.call.error' ||
    type === 'tool.call.timeout' ||
    type === 'tool.call.cancelled' ||
    type === 'approval.denied' ||
    type === 'approval.expired' ||
    obj(rec.result).is_error === true;
  if (type === 'tool.call.outcome_unknown') return { status_id: STATUS.unknown, status: 'Unknown' };
  const s = failed ? { status_id: STATUS.failure, status: 'Failure' } : { status_id: STATUS.success, status: 'Success' };
  return code ? { ...s, status_code: code } : s;
}

function user(actor: Json): Json | undefined {
  const sub = str(actor.sub);
  if (!sub) return undefined;
  const u: Json = { uid: sub, name: sub };
  const tenant = str(actor.tenant);
  if (tenant) u.org = { uid: tenant, name: tenant };
  return u;
}

/** One record as one OCSF event object. */
export function toOcsf(r: StoredRecord, productVersion: string): Json {
  const rec = r.record;
  const actor = obj(rec.actor);
  const target = obj(rec.target);
  const decision = obj(rec.decision);
  const { classUid, activityId, activityName } = ocsfClassOf(r.type, rec);
  const categoryUid = Math.floor(classUid / 1000);
  const ms = Date.parse(r.ts);
  const u = user(actor);
  const profiles: string[] = [];
  const ev: Json = {
    class_uid: classUid,
    category_uid: categoryUid,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: classUid * 100 + activityId,
    time: Number.isFinite(ms) ? ms : 0,
    severity_id: severity(r.type, rec),
    ...status(r.type, rec),
    message: r.type,
    metadata: {
      product: { name: 'Portcullis', vendor_name: 'Portcullis', version: productVersion },
      version: OCSF_VERSION,
      log_name: r.log,
      sequence: r.seq,
      uid: `${r.log}:${r.seq}`,
      event_code: r.type,
      ...(str(actor.tenant) ? { tenant_uid: str(actor.tenant) } : {}),
      ...(str(rec.trace) ? { correlation_uid: str(rec.trace) } : {}),
    },
  };
  const actorObj: Json = {};
  if (u) actorObj.user = u;
  if (str(actor.client_id)) actorObj.app_uid = str(actor.client_id);
  if (str(decision.result)) {
    const rules = strs(decision.rules);
    actorObj.authorizations = [{ decision: str(decision.result), ...(rules.length ? { policy: { name: rules.join(',') } } : {}) }];
  }
  if (Object.keys(actorObj).length === 0) actorObj.app_name = 'portcullis';
  ev.actor = actorObj;
  const ip = str(actor.ip);
  ev.src_endpoint = ip ? { ip } : { name: str(actor.client_id) ?? 'unknown' };
  const targetName = str(target.tool) ?? str(target.prompt) ?? str(target.uri);
  if (targetName) {
    ev.resources = [{ name: targetName, type: str(target.kind) ?? 'tool', role_id: 1, ...(str(target.upstream) ? { group: { name: str(target.upstream) } } : {}) }];
  }
  if (str(actor.client_id) && classUid === OCSF_CLASS.apiActivity) {
    ev.ai_agent = { uid: str(actor.client_id), name: str(actor.client_id) };
    profiles.push('ai_operation');
  }
  const result = str(decision.result) as keyof typeof DISPOSITION | undefined;
  if (result && DISPOSITION[result]) {
    ev.disposition_id = DISPOSITION[result].id;
    ev.disposition = DISPOSITION[result].name;
    const action = result === 'require_approval' ? undefined : ACTION[result];
    if (action) {
      ev.action_id = action.id;
      ev.action = action.name;
    }
    profiles.push('security_control');
  }
  if (profiles.length) (ev.metadata as Json).profiles = profiles;

  switch (classUid) {
    case OCSF_CLASS.apiActivity: {
      const kind = str(target.kind);
      const op =
        str(target.method) ??
        (r.type === 'tool.list' ? 'tools/list' : kind === 'prompt' ? 'prompts/get' : kind === 'resource' ? 'resources/read' : r.type.startsWith('tool.') ? 'tools/call' : r.type);
      ev.api = { operation: op, service: { name: str(target.upstream) ?? 'portcullis' }, ...(str(rec.call) ? { request: { uid: str(rec.call) } } : {}) };
      if (str(target.vserver)) ev.dst_endpoint = { svc_name: str(target.vserver) };
      break;
    }
    case OCSF_CLASS.authentication:
      ev.user = u ?? { name: 'unknown' };
      if (str(actor.authn)) ev.auth_protocol = str(actor.authn);
      ev.auth_protocol_id = 99;
      if (str(actor.issuer)) ev.service = { name: str(actor.issuer) };
      break;
    case OCSF_CLASS.authorizeSession:
      ev.user = u ?? { name: 'unknown' };
      ev.privileges = targetName ? [`call:${targetName}`] : [];
      break;
    case OCSF_CLASS.entityManagement: {
      const entity = obj(rec.entity);
      ev.entity = { name: str(entity.name) ?? str(rec.name) ?? r.type, type: str(entity.type) ?? r.type.split('.')[0] ?? 'config', ...(str(entity.id) ? { uid: str(entity.id) } : {}) };
      break;
    }
    case OCSF_CLASS.detectionFinding:
    case OCSF_CLASS.dataSecurityFinding: {
      // Finding classes redefine status_id (1 = New); a record is a new finding.
      ev.status_id = 1;
      ev.status = 'New';
      const filters = Array.isArray(rec.filters) ? rec.filters.map(obj) : [];
      ev.finding_info = {
        uid: `${r.log}:${r.seq}`,
        title: r.type,
        types: [r.type],
        ...(filters[0] && str(filters[0].rule) ? { analytic: { name: str(filters[0].rule), type_id: 1, type: 'Rule' } } : {}),
      };
      if (classUid === OCSF_CLASS.dataSecurityFinding) {
        ev.data_security = { detection_pattern: filters.map((f) => str(f.rule) ?? str(f.kind) ?? '').filter(Boolean).join(',') || 'redaction' };
      }
      break;
    }
    case OCSF_CLASS.applicationError:
      ev.message = str(obj(rec.error).code) ?? r.type;
      break;
  }
  const reasons = strs(decision.reasons);
  if (reasons.length) ev.status_detail = reasons.join(',');
  return ev;
}

/** JSON text for an OCSF event, with U+2028/U+2029 escaped so no consumer can see a line break. */
export function ocsfLine(ev: Json): string {
  return JSON.stringify(ev).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}
