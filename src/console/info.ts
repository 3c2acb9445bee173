// Where the console of a data folder listens: `<dataDir>/console.json`, written by the console when it
// starts and read by `mcp-warden console login` to build its link. Kept apart from the console server so
// that reading it does not load the server (its HTTP, WebSocket and asset code).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CONSOLE_FILE = 'console.json';

/** `<dataDir>/console.json`: where the console of this data folder listens (read by `console login`). */
export function consoleInfoFile(dataDir: string): string {
  return join(dataDir, CONSOLE_FILE);
}

export function readConsoleInfo(dataDir: string): { url: string; pid: number; readOnly: boolean } | undefined {
  try {
    const info = JSON.parse(readFileSync(consoleInfoFile(dataDir), 'utf8')) as {
      url?: unknown;
      pid?: unknown;
      readOnly?: unknown;
    };
    if (typeof info.url !== 'string' || typeof info.pid !== 'number') return undefined;
    return { url: info.url, pid: info.pid, readOnly: info.readOnly === true };
  } catch {
    return undefined;
  }
}
