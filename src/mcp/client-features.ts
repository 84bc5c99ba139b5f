/**
 * The client capability each server-to-client request needs (spec 2025-11-25, client features):
 * the gateway never forwards such a request to a client that did not declare it.
 */
const NEEDS: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** The capability `method` needs that `capabilities` lacks, or undefined when the client may take it. */
export function missingCapability(method: string, capabilities: Record<string, unknown>): string | undefined {
  const need = NEEDS[method];
  return need !== undefined && !(need in capabilities) ? need : undefined;
}
