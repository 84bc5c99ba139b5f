/**
 * Module-load hook that lets the conformance suite run on Node 20.
 *
 * Both suite lines import `globSync` from `fs` at top level although only the
 * `tier-check` command uses it; Node 20 has no such export, so the import fails
 * before any command runs. We drop that one binding from the import list and
 * define a stub that throws if it is ever called.
 */
const SUITE_DIST = /\/(?:@modelcontextprotocol\/conformance|conformance-alpha)\/dist\//;

/** @type {import('node:module').LoadHook} */
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!SUITE_DIST.test(url) || result.source == null) return result;
  let source = result.source.toString();
  const match = source.match(/globSync as ([\w$]+),/);
  if (!match) return result;
  source = source.replace(match[0], '');
  const stub = `const ${match[1]}=()=>{throw new Error("fs.globSync needs Node>=22");};`;
  // The shebang must stay on the first line, so the stub goes after it.
  source = source.startsWith('#!') ? source.replace(/^#!.*\n/, (line) => line + stub) : stub + source;
  return { ...result, source };
}
