#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; a stray handle must not keep a stopped gateway alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error) => {
    process.stderr.write(`mcp-warden: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
