/**
 * Admin API for API keys: the same operations as `portcullis keys`, over HTTP, for the principal's
 * own tenant. Reached only with credentials (the front door's hook) and an admin role; an open
 * gateway (no `auth`) has no admin API, since anyone on loopback would be an admin.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Principal } from '../../pipeline/context.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { ApiKeyRecord } from '../../storage/ports.js';
import { publicKeyView } from '../../auth/keys/view.js';
import { readBody } from '../body.js';
import { sendError, sendJson } from '../respond.js';
import { auditAdmin } from '../../audit/events.js';
import type { AuditService } from '../../audit/service.js';

/** What the admin routes need from the identity layer. */
export interface AdminKeys {
  /** Undefined when API keys are off (or auth is not required). */
  create(p: Principal, opts: { name: string; roles: string[]; virtualServers: string[]; expiresAt?: Date }): Promise<{ key: string; record: ApiKeyRecord }>;
  list(tenant: string): Promise<ApiKeyRecord[]>;
  revoke(tenant: string, id: string): Promise<boolean>;
  enabled(): boolean;
  isAdmin(p: Principal): boolean;
}

/** Why `p` may not use the admin API (no API keys configured, or no admin role), or undefined when it may. */
export function adminRefusal(guard: Pick<AdminKeys, 'enabled' | 'isAdmin'>, p: Principal): GatewayError | undefined {
  if (!guard.enabled()) return new GatewayError('ERR_NOT_FOUND', 'The admin API needs `auth` with API keys enabled');
  if (!guard.isAdmin(p)) return new GatewayError('ERR_INSUFFICIENT_SCOPE', 'An admin role is required');
  return undefined;
}

const CreateBody = z
  .object({
    name: z.string().min(1).max(128),
    roles: z.array(z.string().min(1).max(128)).max(32).default([]),
    virtualServers: z.array(z.string().min(1).max(32)).max(64).default([]),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

const MAX_BODY = 16 * 1024;

export function registerAdminKeys(
  app: FastifyInstance,
  keys: AdminKeys,
  principalOf: (req: IncomingMessage) => Principal,
  onError: (res: ServerResponse, e: unknown) => void,
  audit?: () => AuditService | undefined,
): void {
  const guarded =
    (fn: (p: Principal, req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>) =>
    (req: { raw: IncomingMessage; params: unknown }, reply: { hijack(): void; raw: ServerResponse }) => {
      reply.hijack();
      const res = reply.raw;
      const p = principalOf(req.raw);
      const refused = adminRefusal(keys, p);
      if (refused) return sendError(res, refused);
      fn(p, req.raw, res, (req.params ?? {}) as Record<string, string>).catch((e: unknown) => onError(res, e));
    };

  app.get(
    '/admin/api/keys',
    guarded(async (p, _req, res) => sendJson(res, 200, { keys: (await keys.list(p.tenant)).map((k) => publicKeyView(k, new Date())) }, { 'cache-control': 'no-store' })),
  );
  app.post(
    '/admin/api/keys',
    guarded(async (p, req, res) => {
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new GatewayError('ERR_CONTENT_TYPE');
      let body: z.infer<typeof CreateBody>;
      try {
        body = CreateBody.parse(JSON.parse((await readBody(req, MAX_BODY)).toString('utf8')));
      } catch (e) {
        if (e instanceof GatewayError) throw e;
        throw new GatewayError('ERR_BAD_INPUT', 'Expected {name, roles?, virtualServers?, expiresAt?}');
      }
      const { key, record } = await keys.create(p, {
        name: body.name,
        roles: body.roles,
        virtualServers: body.virtualServers,
        ...(body.expiresAt ? { expiresAt: new Date(body.expiresAt) } : {}),
      });
      auditAdmin(audit?.(), 'key.created', p, { key: record.id, name: record.name });
      // The only time the key is shown.
      sendJson(res, 201, { key, ...publicKeyView(record, new Date()) }, { 'cache-control': 'no-store' });
    }),
  );
  app.delete(
    '/admin/api/keys/:id',
    guarded(async (p, _req, res, params) => {
      const id = params.id ?? '';
      if (!/^[a-z0-9]{1,64}$/.test(id) || !(await keys.revoke(p.tenant, id))) throw new GatewayError('ERR_NOT_FOUND', 'No such key');
      auditAdmin(audit?.(), 'key.revoked', p, { key: id });
      res.writeHead(204).end();
    }),
  );
}
