/**
 * The quickstart's bundled demo upstream: a tiny MCP server on stdio (v2 SDK, both eras), so a
 * newcomer sees the gateway aggregate a process it supervises next to a published server.
 * Run by the gateway as `node dist/demo/echo-server.js`; never as a package-runner command.
 */
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import * as z from 'zod';

function createDemoServer(): McpServer {
  const mcp = new McpServer({ name: 'portcullis-demo', version: '0.1.0' }, { capabilities: { tools: {}, prompts: {}, resources: {} } });
  mcp.registerTool(
    'echo',
    { description: 'Returns its text argument unchanged.', inputSchema: z.object({ text: z.string().max(100_000).describe('Text to echo back') }) },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  mcp.registerTool(
    'add',
    { description: 'Adds two numbers.', inputSchema: z.object({ a: z.number(), b: z.number() }) },
    ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  mcp.registerTool('now', { description: 'The current time as an ISO-8601 string.' }, () => ({
    content: [{ type: 'text', text: new Date().toISOString() }],
  }));
  mcp.registerPrompt(
    'greeting',
    { description: 'A friendly greeting for someone.', argsSchema: z.object({ name: z.string() }) },
    ({ name }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Please greet ${name} warmly.` } }] }),
  );
  mcp.registerResource('readme', 'demo://readme', { description: 'What this demo server is', mimeType: 'text/plain' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Portcullis demo upstream: tools echo, add and now.' }],
  }));
  return mcp;
}

const handle = serveStdio(() => createDemoServer(), {
  onerror: (e) => process.stderr.write(`demo upstream: ${e.message}\n`),
});
const stop = (): void => void handle.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop);
