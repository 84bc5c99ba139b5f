/**
 * Resolution of SecretRefs to values, at the moment they are needed (so a rotated file or store
 * entry is picked up). Every failure is ERR_UPSTREAM_CREDENTIALS naming the reference, never the
 * value; a missing or empty secret is an error, never a fallback (checklist B9).
 */
import { isAbsolute, resolve } from 'node:path';
import { GatewayError } from '../../pipeline/errors.js';
import { readSecretFile, SecretFileError } from './read-file.js';
import { describeRef, type ResolveSecret, type SecretRef } from './ref.js';
import { MAX_SECRET_BYTES, USER_SECRET_PREFIX, type EncryptedSecrets } from './secret-store.js';

/** What the resolver reads from. */
export interface SecretResolverOptions {
  /** Directory of the config file; relative `file` refs resolve against it. */
  configDir: string;
  /** The encrypted store for `{secret}` refs; without it those refs fail. */
  secrets?: EncryptedSecrets;
  /** Environment for `{env}` refs; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The store record name behind a `{secret: NAME}` reference. */
export const storeNameOf = (name: string): string => `${USER_SECRET_PREFIX}${name}`;

/** Builds the gateway's ResolveSecret. */
export function createSecretResolver(opts: SecretResolverOptions): ResolveSecret {
  const env = opts.env ?? process.env;
  return async (ref: SecretRef): Promise<string> => {
    const what = describeRef(ref);
    const fail = (why: string, cause?: unknown): GatewayError =>
      new GatewayError('ERR_UPSTREAM_CREDENTIALS', `secret ${what}: ${why}`, { detail: { ref: what }, ...(cause ? { cause } : {}) });
    let value: string | undefined;
    if ('env' in ref) {
      value = env[ref.env];
      if (value === undefined || value === '') throw fail('environment variable is not set or empty');
    } else if ('file' in ref) {
      const path = isAbsolute(ref.file) ? ref.file : resolve(opts.configDir, ref.file);
      try {
        value = await readSecretFile(path, MAX_SECRET_BYTES);
      } catch (e) {
        if (e instanceof SecretFileError) throw fail(e.message);
        throw fail('file cannot be read');
      }
      if (value === '') throw fail('file is empty');
    } else {
      if (!opts.secrets) throw fail('no secret store is available here');
      try {
        value = await opts.secrets.get(storeNameOf(ref.secret));
      } catch (e) {
        // The store's own error names the record and key id only; keep its reason.
        throw fail(e instanceof GatewayError ? e.message : 'the secret store failed', e);
      }
      if (value === undefined) throw fail('not in the secret store (portcullis secrets set)');
    }
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) throw fail(`value exceeds ${MAX_SECRET_BYTES} bytes`);
    return value;
  };
}
