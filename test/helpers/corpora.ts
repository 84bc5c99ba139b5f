/**
 * Where the shared public test corpora are (secrets, PII, injection, Merkle proof vectors). The
 * project reads them from `../shared/corpora` beside the checkout; a clone elsewhere on the same
 * machine finds them at the workplace path, and PORTCULLIS_CORPORA overrides both.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './gateway.js';

export function corporaDir(...parts: string[]): string {
  const candidates = [process.env.PORTCULLIS_CORPORA, repoPath('..', 'shared', 'corpora'), '/work/shared/corpora'].filter((c): c is string => typeof c === 'string' && c !== '');
  for (const c of candidates) if (existsSync(c)) return join(c, ...parts);
  throw new Error(`test corpora not found (tried ${candidates.join(', ')}); set PORTCULLIS_CORPORA`);
}
