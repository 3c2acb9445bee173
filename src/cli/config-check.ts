import { basename } from 'node:path';
import { loadConfig } from '../config/load.js';
import { labelFor } from '../policy/tests.js';
import { policyFiles } from '../policy/setup.js';
import { EXIT, type CommandContext } from './common.js';
import { createLogger } from '../observe/logger.js';
import { commandProblems, nameNotes } from './config-problems.js';
import { probeServers, type ProbeReport } from './config-probe.js';
import { checkPolicyFiles } from './policy.js';

/**
 * `mcp-warden config check [FILE]`: what would stop a start, found without starting anything: the file
 * itself, its policy files (as `policy check`), every command a server entry runs, and names that can
 * collide. With `probe`, also asks every enabled server what it offers (as the start-up probe does) and
 * reports name collisions (which stop a start) and resource URIs or templates two servers offer (which
 * the first in config order wins). Exit 0 with a summary, or 2 with every problem on stderr.
 */
export async function runConfigCheck(ctx: CommandContext, file: string | undefined, probe = false): Promise<number> {
  const loaded = loadConfig(file ?? ctx.configPath, { dataDirOverride: ctx.dataDir });
  const label = basename(loaded.file);
  const files = policyFiles(loaded);
  const policy =
    files.length === 0 ? undefined : checkPolicyFiles(files.map((f) => ({ path: f.path, label: labelFor(f.path) })));
  const problems = [...(policy?.errors ?? []), ...commandProblems(loaded, label)];
  let report: ProbeReport | undefined;
  if (probe && problems.length === 0) {
    report = await probeServers(loaded, createLogger({ level: 'error', pretty: false }));
    for (const problem of report.problems) {
      if (problem.kind === 'collision')
        problems.push(
          `${label}: servers.${problem.server}: name collision: ${problem.detail} (give them distinct prefixes)`,
        );
    }
  }
  if (problems.length > 0) {
    process.stderr.write(
      `${problems.join('\n')}\n${loaded.file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; the gateway would not start\n`,
    );
    return EXIT.usage;
  }
  const servers = Object.entries(loaded.config.servers);
  const enabled = servers.filter(([, s]) => s.enabled).length;
  process.stdout.write(`${loaded.file}: valid\n`);
  process.stdout.write(`  servers: ${servers.length} (${enabled} enabled)\n`);
  for (const [id, server] of servers) {
    const where = server.transport === 'stdio' ? `${server.command} ${server.args.join(' ')}`.trim() : server.url;
    const flags = [
      server.enabled ? undefined : 'disabled',
      server.shared ? 'shared' : undefined,
      server.prefix === false ? 'unprefixed' : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    process.stdout.write(`    ${id}  ${server.transport}  ${where}${flags ? `  (${flags})` : ''}\n`);
  }
  process.stdout.write(
    `  auth: ${loaded.config.auth?.mode ?? 'none configured (serve and stdio will refuse to start)'}\n`,
  );
  process.stdout.write(`  policy: ${policy?.summary ?? 'none configured'}\n`);
  for (const note of nameNotes(loaded)) process.stdout.write(`  note: ${note}\n`);
  if (report) writeProbe(report);
  process.stdout.write(`  data folder: ${loaded.dataDir}\n`);
  return EXIT.ok;
}

/** What each server offers, who wins a resource URI or template two servers offer, and names refused. */
function writeProbe(report: ProbeReport): void {
  process.stdout.write('  probe (each enabled server asked once):\n');
  for (const server of report.servers) {
    const offers = `${server.tools} tools, ${server.prompts} prompts, ${server.resources} resources, ${server.templates} resource templates`;
    process.stdout.write(
      `    ${server.id}  ${server.error === undefined ? offers : `did not answer: ${server.error}`}\n`,
    );
  }
  for (const problem of report.problems) {
    if (problem.kind === 'shadowed_resource')
      process.stdout.write(`  resource: ${problem.detail} (the first server in config order wins)\n`);
    else if (problem.kind !== 'collision') process.stdout.write(`  note: ${problem.server}: ${problem.detail}\n`);
  }
}
