/**
 * The authenticate stage. Credentials are checked at the front door before the body is parsed
 * (security-checklist A4); here the call confirms it carries a principal. Until the identity
 * issue lands, the front door attaches the local anonymous principal and this stage only
 * refuses a call without one (fail closed).
 */
import { GatewayError } from '../../pipeline/errors.js';
import type { CallContext, Principal } from '../../pipeline/context.js';

export const ANONYMOUS: Principal = Object.freeze({ subject: 'anonymous', tenant: 'default', roles: [], groups: [], authMethod: 'anonymous' });

export function authenticate(ctx: CallContext): void {
  if (!ctx.principal) throw new GatewayError('ERR_UNAUTHENTICATED');
}
