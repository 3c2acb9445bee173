#!/usr/bin/env node
// The bundled demo notes server: MCP over stdio, notes kept as files in one folder.
//   node dist/servers/notes/main.js [--dir DIR]     (or env NOTES_DIR; default ./.warden/notes)
// stdout carries only MCP messages; every log line goes to stderr.
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createNotesServer } from './server.js';
import { NoteStore } from './store.js';

const DEFAULT_DIR = './.warden/notes';

function log(message: string): void {
  process.stderr.write(`notes: ${message}\n`);
}

function parseDir(argv: string[]): string {
  const { values } = parseArgs({ args: argv, options: { dir: { type: 'string' } }, strict: true });
  const dir = values.dir ?? process.env['NOTES_DIR'] ?? DEFAULT_DIR;
  if (dir.trim() === '') throw new Error('--dir (or NOTES_DIR) must not be empty');
  return dir;
}

async function main(): Promise<void> {
  let dir: string;
  try {
    dir = parseDir(process.argv.slice(2));
  } catch (error) {
    log(`${error instanceof Error ? error.message : String(error)}\nusage: notes [--dir DIR]`);
    process.exit(2);
  }

  const store = await NoteStore.open(dir);
  const server = createNotesServer(store, log);
  const transport = new StdioServerTransport();

  let closing = false;
  const shutdown = (reason: string): void => {
    if (closing) return;
    closing = true;
    log(`shutting down (${reason})`);
    server
      .close()
      .catch((error: unknown) => log(`close failed: ${String(error)}`))
      .finally(() => process.exit(0));
  };

  // The SDK's stdio transport does not watch for end of input: the client going away must end us.
  process.stdin.once('end', () => shutdown('stdin closed'));
  process.stdin.once('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.stdout.on('error', () => shutdown('stdout closed'));

  await server.connect(transport);
  log(`serving notes from ${store.dir}`);
}

main().catch((error: unknown) => {
  log(`fatal: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
