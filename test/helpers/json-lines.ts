/** Collects the JSON objects a child process writes one per line (its structured log); other lines are ignored. */
import { createInterface } from 'node:readline';

export function jsonLines(stream: NodeJS.ReadableStream): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: stream }).on('line', (line) => {
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v === 'object' && v !== null) lines.push(v as Record<string, unknown>);
    } catch {
      /* not JSON */
    }
  });
  return lines;
}
