import { basename } from 'node:path';
import { loadConfig } from '../config/load.js';
import { labelFor } from '../policy/tests.js';
import { policyFiles } from '../policy/setup.js';
import { EXIT, type CommandContext } from './common.js';
import { commandProblems, nameNotes } from './config-problems.js';
import { checkPolicyFiles } from './policy.js';

/**
 * `mcp-warden config check [FILE]`: what would stop a start, found without starting anything: the file
 * itself, its policy files (as `policy check`), every command a server entry runs, and names that can
 * collide. Exit 0 with a summary, or 2 with every problem on stderr.
 */
export async function runConfigCheck(ctx: CommandContext, file: string | undefined): Promise<number> {
  const loaded = loadConfig(file ?? ctx.configPath, { dataDirOverride: ctx.dataDir });
  const label = basename(loaded.file);
  const files = policyFiles(loaded);
  const policy = files.length === 0 ? undefined : checkPolicyFiles(files.map((f) => ({ path: f.path, label: labelFor(f.path) })));
  const problems = [...(policy?.errors ?? []), ...commandProblems(loaded, label)];
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n${loaded.file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; the gateway would not start\n`);
    return EXIT.usage;
  }
  const servers = Object.entries(loaded.config.servers);
  const enabled = servers.filter(([, s]) => s.enabled).length;
  process.stdout.write(`${loaded.file}: valid\n`);
  process.stdout.write(`  servers: ${servers.length} (${enabled} enabled)\n`);
  for (const [id, server] of servers) {
    const where = server.transport === 'stdio' ? `${server.command} ${server.args.join(' ')}`.trim() : server.url;
    const flags = [server.enabled ? undefined : 'disabled', server.shared ? 'shared' : undefined, server.prefix === false ? 'unprefixed' : undefined]
      .filter(Boolean)
      .join(', ');
    process.stdout.write(`    ${id}  ${server.transport}  ${where}${flags ? `  (${flags})` : ''}\n`);
  }
  process.stdout.write(`  auth: ${loaded.config.auth?.mode ?? 'none configured (serve and stdio will refuse to start)'}\n`);
  process.stdout.write(`  policy: ${policy?.summary ?? 'none configured'}\n`);
  for (const note of nameNotes(loaded)) process.stdout.write(`  note: ${note}\n`);
  process.stdout.write(`  data folder: ${loaded.dataDir}\n`);
  return EXIT.ok;
}
