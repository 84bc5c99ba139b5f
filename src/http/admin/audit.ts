/**
 * Admin API for the audit log: an admin rotates the signing key of its own tenant's log, on the
 * running gateway. The writer appends `audit.key_rotated {old_key, new_key}`, the next
 * checkpoint is signed by both keys, later ones by the new key only (docs/audit.md, "Key
 * rotation"); the action itself is recorded as `admin.audit.key_rotated` in the system log.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../pipeline/context.js';
import { GatewayError } from '../../pipeline/errors.js';
import { sendError, sendJson } from '../respond.js';
import { auditAdmin } from '../../audit/events.js';
import type { AuditService } from '../../audit/service.js';
import { adminRefusal, type AdminKeys } from './keys.js';

export function registerAdminAudit(
  app: FastifyInstance,
  guard: Pick<AdminKeys, 'enabled' | 'isAdmin'>,
  principalOf: (req: IncomingMessage) => Principal,
  onError: (res: ServerResponse, e: unknown) => void,
  audit: () => AuditService | undefined,
): void {
  app.post('/admin/api/audit/rotate-key', async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    const p = principalOf(req.raw);
    const refused = adminRefusal(guard, p);
    if (refused) return sendError(res, refused);
    try {
      const svc = audit();
      if (!svc?.enabled) throw new GatewayError('ERR_NOT_FOUND', 'The audit log is off');
      const w = svc.tenantLog(p.tenant);
      // An alarmed or failing log could not record the rotation: refuse rather than sign with a key
      // nobody was told of. The reason stays out of the answer, as /readyz keeps it from callers.
      if (!w || (w.unavailable() ?? w.stats.failure) !== undefined) throw new GatewayError('ERR_AUDIT_UNAVAILABLE', "The tenant's audit log cannot record a rotation now");
      // Answered once the rotation record and a checkpoint signed by both keys are durable and
      // the key files changed (writer.ts rotateKeyDurably); a failure leaves the old key in use.
      let keys: { old: string; new: string };
      try {
        keys = await w.rotateKeyDurably();
      } catch {
        throw new GatewayError('ERR_AUDIT_UNAVAILABLE', "The tenant's audit log could not complete the rotation; the old key stays in use");
      }
      auditAdmin(svc, 'audit.key_rotated', p, { log: w.logId });
      sendJson(res, 200, { log: w.logId, oldKey: keys.old, newKey: keys.new }, { 'cache-control': 'no-store' });
    } catch (e) {
      onError(res, e);
    }
  });
}
