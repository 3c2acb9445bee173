// Runs the real mcp-warden CLI (compiled) against a config file, as a person or a script would.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { BIN } from './gateway.js';
import { runToExit } from './process.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(configFile: string, args: string[], env: Record<string, string> = {}): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args, '--config', configFile], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `mcp-warden token issue ARGS`; fails the test unless it printed a token. */
export function issueToken(configFile: string, args: string[]): string {
  const result = runCli(configFile, ['token', 'issue', ...args]);
  expect(result.stderr).not.toMatch(/unexpected error/);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}

/**
 * Like runCli, without blocking the test's event loop: use it while the test holds HTTP connections to
 * a gateway (a blocked loop misses the server closing an idle keep-alive socket, and the next request
 * on it fails with "other side closed").
 */
export async function runCliAsync(
  configFile: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const result = await runToExit(process.execPath, [BIN, ...args, '--config', configFile], { env });
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

/** `mcp-warden token issue ARGS` without blocking the event loop; fails the test unless it printed a token. */
export async function issueTokenAsync(configFile: string, args: string[]): Promise<string> {
  const result = await runCliAsync(configFile, ['token', 'issue', ...args]);
  expect(result.stderr).not.toMatch(/unexpected error/);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}
