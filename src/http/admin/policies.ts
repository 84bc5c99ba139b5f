/**
 * Admin API for policy rules: an admin adds, lists, reads and deletes rules of its own tenant.
 * Rules are validated like config rules (same schema, same CEL compiler), bound to the caller's
 * tenant, persisted, and applied from the next request on. Another tenant's ids answer 404.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../pipeline/context.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { PolicyRuleRecord } from '../../storage/ports.js';
import type { PolicyRuleT } from '../../policy/config.js';
import type { PolicyService } from '../../policy/service.js';
import { readBody } from '../body.js';
import { sendError, sendJson } from '../respond.js';
import { auditAdmin } from '../../audit/events.js';
import type { AuditService } from '../../audit/service.js';
import { adminRefusal, type AdminKeys } from './keys.js';

const MAX_BODY = 32 * 1024;
const ID_RE = /^[a-zA-Z0-9_.-]{1,64}$/;

/** What the routes need: the service, whether the current config has a policy section, and the admin check. */
export interface AdminPolicies {
  service(): PolicyService | undefined;
  policyEnabled(): boolean;
  guard: Pick<AdminKeys, 'enabled' | 'isAdmin'>;
  /** Where `admin.policy.*` events are recorded. */
  audit?: () => AuditService | undefined;
}

function view(s: { record: PolicyRuleRecord; rule: PolicyRuleT }): Record<string, unknown> {
  return { ...s.rule, source: 'store', createdAt: s.record.createdAt.toISOString() };
}

export function registerAdminPolicies(app: FastifyInstance, admin: AdminPolicies, principalOf: (req: IncomingMessage) => Principal, onError: (res: ServerResponse, e: unknown) => void): void {
  const guarded =
    (fn: (p: Principal, svc: PolicyService, req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>) =>
    (req: { raw: IncomingMessage; params: unknown }, reply: { hijack(): void; raw: ServerResponse }) => {
      reply.hijack();
      const res = reply.raw;
      const p = principalOf(req.raw);
      const svc = admin.service();
      if (!svc) return sendError(res, new GatewayError('ERR_NOT_FOUND', 'The admin API needs `auth` with API keys enabled'));
      const refused = adminRefusal(admin.guard, p);
      if (refused) return sendError(res, refused);
      fn(p, svc, req.raw, res, (req.params ?? {}) as Record<string, string>).catch((e: unknown) => onError(res, e));
    };
  const idOf = (params: Record<string, string>): string => {
    const id = params.id ?? '';
    if (!ID_RE.test(id)) throw new GatewayError('ERR_NOT_FOUND', 'No such rule');
    return id;
  };

  app.get(
    '/admin/api/policies',
    guarded(async (p, svc, _req, res) => sendJson(res, 200, { policyEnabled: admin.policyEnabled(), rules: svc.list(p.tenant).map(view) }, { 'cache-control': 'no-store' })),
  );
  app.post(
    '/admin/api/policies',
    guarded(async (p, svc, req, res) => {
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new GatewayError('ERR_CONTENT_TYPE');
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, MAX_BODY)).toString('utf8'));
      } catch (e) {
        if (e instanceof GatewayError) throw e;
        throw new GatewayError('ERR_BAD_INPUT', 'Expected a JSON rule object');
      }
      // Stored rules only ever apply next to config rules; without a policy section nothing would enforce them.
      if (!admin.policyEnabled()) throw new GatewayError('ERR_CONFLICT', 'The config has no `policy` section, so stored rules would not apply');
      const added = await svc.add(p.tenant, body);
      auditAdmin(admin.audit?.(), 'policy.created', p, { rule: added.record.id });
      sendJson(res, 201, view(added), { 'cache-control': 'no-store' });
    }),
  );
  app.get(
    '/admin/api/policies/:id',
    guarded(async (p, svc, _req, res, params) => {
      const found = svc.get(p.tenant, idOf(params));
      if (!found) throw new GatewayError('ERR_NOT_FOUND', 'No such rule');
      sendJson(res, 200, view(found), { 'cache-control': 'no-store' });
    }),
  );
  app.delete(
    '/admin/api/policies/:id',
    guarded(async (p, svc, _req, res, params) => {
      if (!(await svc.delete(p.tenant, idOf(params)))) throw new GatewayError('ERR_NOT_FOUND', 'No such rule');
      auditAdmin(admin.audit?.(), 'policy.deleted', p, { rule: params.id });
      res.writeHead(204).end();
    }),
  );
}
