/**
 * `node --import ./test/conformance/globsync-shim.mjs <suite>/dist/index.js …`
 * registers the hook in globsync-shim-hooks.mjs (see there for why).
 */
import { register } from 'node:module';

register('./globsync-shim-hooks.mjs', import.meta.url);
