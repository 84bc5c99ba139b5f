/**
 * Wiring of the secret layer for the gateway and the CLI: keyring (configured or default), the
 * encrypted store over the storage port, and the resolver that reads env, files and the store.
 */
import type { Logger } from '../../observability/logger.js';
import type { SecretStore } from '../../storage/ports.js';
import type { SecretStoreConfig } from './config.js';
import { openKeyring, type Keyring } from './keyring.js';
import type { ResolveSecret } from './ref.js';
import { createSecretResolver } from './resolver.js';
import { EncryptedSecrets } from './secret-store.js';

export interface SecretsSetupOptions {
  /** The storage port (`store.secrets`). */
  store: SecretStore;
  storage: 'sqlite' | 'memory';
  /** Absolute data directory. */
  dataDir: string;
  /** Directory of the config file (relative `file` refs). */
  configDir: string;
  /** `secretStore` (see readSecretStoreConfig); defaults apply when absent. */
  config?: SecretStoreConfig;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface SecretsSetup {
  keyring: Keyring;
  secrets: EncryptedSecrets;
  /** Resolves env, file and secret-store references. */
  resolveSecret: ResolveSecret;
}

/** Opens the keyring and builds the encrypted store and the resolver over it. */
export async function setupSecrets(o: SecretsSetupOptions): Promise<SecretsSetup> {
  const env = o.env ?? process.env;
  // Keys themselves are env or file refs, so a resolver without the store suffices for them.
  const keyResolver = createSecretResolver({ configDir: o.configDir, env });
  const keyring = await openKeyring({
    ...(o.config ? { config: o.config } : {}),
    storage: o.storage,
    dataDir: o.dataDir,
    resolveSecret: keyResolver,
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const secrets = new EncryptedSecrets(o.store, keyring);
  return { keyring, secrets, resolveSecret: createSecretResolver({ configDir: o.configDir, secrets, env }) };
}
