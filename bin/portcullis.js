#!/usr/bin/env node
// The installed `portcullis` command: runs the compiled CLI (`npm run build` produces dist/).
import { run } from '../dist/cli/index.js';

run().catch((e) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
