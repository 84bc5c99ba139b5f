/**
 * `POST /audit/witness`: this gateway as another gateway's checkpoint witness (src/audit/
 * witness-service.ts, docs/audit.md "A gateway as witness"). Credentials as on every non-public
 * route; the checkpoint's own signature decides whose log it may be.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../pipeline/errors.js';
import type { Logger } from '../observability/logger.js';
import { WITNESS_MAX_BODY_BYTES, type WitnessService } from '../audit/witness-service.js';
import { parseJsonBody } from '../mcp/json-body.js';
import { readBody } from './body.js';
import { sendError, sendJson } from './respond.js';

export const WITNESS_PATH = '/audit/witness';

export function registerWitnessRoute(app: FastifyInstance, service: WitnessService, log: Logger, onUnexpected: (res: ServerResponse, e: unknown) => void): void {
  app.post(WITNESS_PATH, (req, reply) => {
    reply.hijack();
    receive(service, log, req.raw, reply.raw).catch((e: unknown) => {
      if (e instanceof GatewayError) {
        // A refusal is a security event for the operator (a rollback or fork of the sender's log,
        // or an unknown signer); the checkpoint text is public, the reason names no secret.
        const level = e.code === 'ERR_WITNESS_REFUSED' || e.code === 'ERR_WITNESS_UNTRUSTED' ? 'warn' : 'info';
        log[level]({ code: e.code, reason: e.message, from: req.raw.socket.remoteAddress }, 'audit.witness_submission_refused');
        sendError(reply.raw, e);
      } else onUnexpected(reply.raw, e);
    });
  });
}

async function receive(service: WitnessService, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) throw new GatewayError('ERR_CONTENT_TYPE');
  const parsed = parseJsonBody(await readBody(req, WITNESS_MAX_BODY_BYTES), 8);
  if (!parsed.ok) throw new GatewayError('ERR_BAD_INPUT', `Witness submission: ${parsed.message}`);
  const held = await service.submit(parsed.value);
  log.debug({ origin: held.origin, size: held.size }, 'audit.witnessed');
  sendJson(res, 200, held, { 'cache-control': 'no-store' });
}
