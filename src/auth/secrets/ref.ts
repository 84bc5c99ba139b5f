/**
 * Secret references: config never holds a secret value, only where to find it. `env` reads the
 * gateway's environment, `file` reads a file (trailing newline trimmed), `secret` reads the
 * gateway's encrypted secret store. Resolution lives in resolver.ts.
 */
import { z } from 'zod';

export const SecretRef = z
  .union([
    z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).describe('Name of an environment variable of the gateway.') }).strict(),
    z.object({ file: z.string().min(1).describe('Path of a file holding the value; relative to the config file.') }).strict(),
    z.object({ secret: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_./-]{0,127}$/).describe("Name in the gateway's encrypted secret store (`portcullis secrets set`).") }).strict(),
  ])
  .describe('Where a secret comes from: `{env: NAME}`, `{file: PATH}` or `{secret: NAME}`. Never the value itself.');

export type SecretRef = z.infer<typeof SecretRef>;

/** Resolves a reference to its current value; rejects with ERR_UPSTREAM_CREDENTIALS-style errors naming the reference, never the value. */
export type ResolveSecret = (ref: SecretRef) => Promise<string>;

/** A printable description of a reference, safe for logs and errors. */
export function describeRef(ref: SecretRef): string {
  if ('env' in ref) return `env:${ref.env}`;
  if ('file' in ref) return `file:${ref.file}`;
  return `secret:${ref.secret}`;
}
