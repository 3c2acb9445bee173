// Runs the real mcp-warden CLI (compiled) against a config file, as a person or a script would.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { BIN } from './gateway.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(configFile: string, args: string[], env: Record<string, string> = {}): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args, '--config', configFile], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `mcp-warden token issue ARGS`; fails the test unless it printed a token. */
export function issueToken(configFile: string, args: string[]): string {
  const result = runCli(configFile, ['token', 'issue', ...args]);
  expect(result.stderr).not.toMatch(/unexpected error/);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}
