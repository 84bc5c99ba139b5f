/**
 * Protected Resource Metadata (RFC 9728) for each endpoint. The root document describes the
 * default endpoint, so a client that only tries `/.well-known/oauth-protected-resource` still
 * finds the authorization servers.
 */
export interface PrmInput {
  resource: string;
  authorizationServers: readonly string[];
  scopes: readonly string[];
  name: string;
}

export function protectedResourceMetadata(i: PrmInput): Record<string, unknown> {
  return {
    resource: i.resource,
    authorization_servers: [...i.authorizationServers],
    scopes_supported: [...i.scopes],
    bearer_methods_supported: ['header'],
    resource_name: i.name,
  };
}
