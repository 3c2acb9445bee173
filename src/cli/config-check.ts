import { loadConfig } from '../config/load.js';
import { EXIT, type CommandContext } from './common.js';

/** `mcp-warden config check [FILE]`: validates and summarises; starts nothing. */
export async function runConfigCheck(ctx: CommandContext, file: string | undefined): Promise<number> {
  const loaded = loadConfig(file ?? ctx.configPath, { dataDirOverride: ctx.dataDir });
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
  process.stdout.write(`  data folder: ${loaded.dataDir}\n`);
  return EXIT.ok;
}
