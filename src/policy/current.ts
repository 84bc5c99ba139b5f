/** The policy engine a call or list uses: the runtime's (config + stored rules), or config-only. */
import type { Snapshot } from '../config/compile.js';
import { PolicyEngine } from './engine.js';
import type { PolicyService } from './service.js';

const configOnly = new WeakMap<Snapshot, PolicyEngine>();

/** Undefined when the snapshot has no `policy` section (then there is no policy stage at all). */
export function policyEngine(snapshot: Snapshot, service: PolicyService | undefined): PolicyEngine | undefined {
  if (!snapshot.policy.enabled) return undefined;
  if (service) return service.engine(snapshot);
  let e = configOnly.get(snapshot);
  if (!e) configOnly.set(snapshot, (e = new PolicyEngine(snapshot.policy.rules, snapshot)));
  return e;
}
