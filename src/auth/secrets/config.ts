/**
 * `secretStore`: where the secret store's encryption keys come from. Keys are SecretRefs of
 * kind env or file only (a key kept in the store it unlocks could never be read).
 */
import { z } from 'zod';
import { SecretRef } from './ref.js';

const KeyRef = SecretRef.refine((r) => !('secret' in r), 'an encryption key must come from {env} or {file}, not from the secret store').describe(
  'A 32-byte key written as hex (64 characters), base64 or base64url (43 characters, optional "="): `{env: NAME}` or `{file: PATH}`.',
);

export const SecretStoreConfig = z
  .object({
    key: KeyRef.optional().describe(
      "The key that seals new secrets. Omitted: a key generated once into `<dataDir>/secret-store.key` (mode 0600), or a per-process random key with `storage: memory`. Generate one with `openssl rand -base64 32`.",
    ),
    previousKeys: z
      .array(KeyRef)
      .max(16)
      .default([])
      .describe('Older keys that may still open existing records; `portcullis secrets rotate` re-seals those records under `key`, after which they can be removed.'),
  })
  .strict()
  .describe("Encryption at rest of the gateway's secret store (AES-256-GCM).");

export type SecretStoreConfig = z.infer<typeof SecretStoreConfig>;

/**
 * Reads the secret-store section from a parsed config of any shape: top-level `secretStore`
 * (where the schema mounts it), else `auth.secretStore`; absent (or `auth: none`) yields the
 * defaults, a present but invalid value throws (zod error).
 */
export function readSecretStoreConfig(config: unknown): SecretStoreConfig {
  const field = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined);
  const raw = field(config, 'secretStore') ?? field(field(config, 'auth'), 'secretStore');
  return SecretStoreConfig.parse(raw ?? {});
}
