// Over 300 lines: one table of every command (options, help, handler) and the dispatcher that reads it.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isWardenError, type WardenError } from '../errors.js';
import { EXIT, UsageError, type CommandContext } from './common.js';
import type { TokenFlags } from './identity.js';
import type { ExplainFlags } from './policy.js';

// A command's module is imported when it runs, so `token issue` does not load the whole gateway first.

const VERSION = '0.1.0';

interface Spec {
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
}

/** Usage and options written here, or loaded on demand (`spec`) from the command's own module. */
type Command = (Spec | { spec: () => Promise<Spec> }) & {
  summary: string;
  run(ctx: CommandContext, positionals: string[], values: Record<string, unknown>): Promise<number>;
};

const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const GLOBAL_HELP = `Global options:
  -c, --config FILE    configuration file (default: ./mcp.config.json)
      --data-dir DIR   data folder (default: dataDir from the config, relative to it;
                       MCP_WARDEN_DATA_DIR overrides the config, --data-dir overrides both)
  -h, --help           show help for the command`;

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the gateway for agents over Streamable HTTP',
    usage: `mcp-warden serve [--host H] [--port P]

Serves MCP at http://H:P/mcp, plus /healthz, /.well-known/oauth-protected-resource and (with the
built-in issuer) /.well-known/jwks.json. Binds 127.0.0.1 by default. Prints one line to stdout when
ready: "mcp-warden listening on http://H:P/mcp". --port 0 picks a free port.
--demo    also print (to stderr) a short-lived token for a demo agent and how to connect with it
With console.enabled in the config it also serves the reviewer console on its own listener
(console.host:console.port; see "mcp-warden console --help").`,
    options: { host: { type: 'string' }, port: { type: 'string', short: 'p' }, demo: { type: 'boolean' } },
    run: async (ctx, _positionals, values) =>
      (await import('./run.js')).runServe(ctx, {
        host: values.host as string | undefined,
        port: values.port as string | undefined,
        demo: values.demo === true,
      }),
  },
  stdio: {
    summary: 'run the gateway for one agent over stdin/stdout (Claude Desktop and other hosts)',
    usage: `mcp-warden stdio [--token-file PATH]

Speaks MCP on stdin/stdout; logs go to stderr. Point the agent host's server command at it.
With auth.mode "jwt" the agent's identity is a token: MCP_WARDEN_TOKEN, or --token-file PATH, which
is re-read whenever it changes so an external refresher can rotate short-lived tokens.`,
    options: { 'token-file': { type: 'string' } },
    run: async (ctx, _positionals, values) =>
      (await import('./run.js')).runStdio(ctx, { tokenFile: values['token-file'] as string | undefined }),
  },
  keys: {
    summary: "manage the gateway's Ed25519 signing keys (init, rotate, list)",
    usage: `mcp-warden keys init|rotate|list

init    create the first signing key in <data-dir>/keys (mode 0600); the gateway publishes its public
        half at /.well-known/jwks.json
rotate  make a new active key; the previous public key stays published until tokens signed with it
        have expired (auth.maxTokenLifetimeSeconds)
list    show every key and whether it is active or retired`,
    options: {},
    run: async (ctx, positionals) => (await import('./identity.js')).runKeys(ctx, positionals),
  },
  token: {
    summary: 'issue a short-lived JWT from the built-in issuer',
    usage: `mcp-warden token issue --sub SUBJECT [--task-purpose TEXT] [--grant GLOB ...] [--scope S ...]
                       [--tenant T] [--client ID] [--ttl 15m] [--parent TOKEN] [--out FILE]
                       [--claude-desktop]
mcp-warden token revoke TOKEN_ID [--reason TEXT]

Prints a JWT signed with the gateway's active key, audience = this gateway's resource URI. On a fresh
clone it first creates the data folder and the first signing key (as "keys init" would), saying so.
--grant     tool globs the token's task allows (e.g. 'notes__read*'); repeatable
--ttl       lifetime (90s, 15m, 1h); at most auth.maxTokenLifetimeSeconds
--parent    delegate from this token: grants must be a subset, expiry no later; the chain goes in "act"
            (with the parent's token id, task and issue time, so revoking any of them reaches the delegate)
--out       write the token to FILE (mode 0600, replaced whole; nothing is written if issuing fails)
--claude-desktop  also print the claude_desktop_config.json entry (to stderr)
revoke      refuse the token with this id (printed on stderr at issue; its "jti") and every token
            delegated from it, from the next call on every gateway sharing the data folder`,
    options: {
      sub: { type: 'string' },
      'task-purpose': { type: 'string' },
      grant: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      tenant: { type: 'string' },
      client: { type: 'string' },
      ttl: { type: 'string' },
      parent: { type: 'string' },
      out: { type: 'string', short: 'o' },
      'claude-desktop': { type: 'boolean' },
      reason: { type: 'string' },
    },
    run: async (ctx, positionals, values) =>
      (await import('./identity.js')).runTokenIssue(ctx, positionals, values as TokenFlags),
  },
  audit: {
    summary: 'review the audit log: list, show, tail, export, stats, verify, checkpoints, prune',
    spec: async () => import('./audit.js').then((m) => ({ usage: m.AUDIT_USAGE, options: m.AUDIT_OPTIONS })),
    run: async (ctx, positionals, values) => (await import('./audit.js')).runAudit(ctx, positionals, values),
  },
  config: {
    summary: 'validate a configuration file without starting anything',
    usage: `mcp-warden config check [FILE] [--probe]

Validates FILE (default: --config, else ./mcp.config.json), its policy files (as "policy check"),
and every command a server entry runs (found on PATH, or relative to the file's folder). Exit 0 when
valid, 2 with every problem named by file and JSON path when not. Unprefixed servers, whose names
can collide, are pointed out.

--probe  also start and ask every enabled server what it offers, as serve does at start-up: name
         collisions are problems (exit 2); a resource URI or template two servers offer is reported
         with the server that wins it (the first in config order)`,
    options: { probe: { type: 'boolean' } },
    run: async (ctx, positionals, values) => {
      const [sub, file, ...rest] = positionals;
      if (sub !== 'check' || rest.length > 0) throw new UsageError('usage: mcp-warden config check [FILE] [--probe]');
      return (await import('./config-check.js')).runConfigCheck(ctx, file, values.probe === true);
    },
  },
  policy: {
    summary: 'check policy files, explain a decision, run policy tests, replay recorded calls',
    usage: `mcp-warden policy check [FILE...]
mcp-warden policy explain --sub SUBJECT (--tool T | --prompt P | --resource URI) [--args JSON]
                          [--task GLOB ...] [--in-task] [--issuer I] [--client C] [--tenant T]
                          [--scope S ...] [--claim NAME=VALUE ...] [--list] [--policy FILE ...] [--json]
mcp-warden policy test [FILE...]
mcp-warden policy replay --policy FILE [--policy FILE ...] [--since 7d] [--until T] [--agent S]
                         [--server ID] [--tool T] [--json]

check    validate the files (default: the config's policy.files) as one policy; exit 2 with file and
         path for every problem
explain  the decision for one call and every rule written for it. --task GLOB: inside a task that
         grants GLOB (repeatable); --in-task: inside a task that does not narrow; --list: visibility
         in a list instead of a call
test     run policy test files (default: every *.test.yaml beside the configured policy files);
         exit 1 if any test fails
replay   every recorded request in range (calls, reads, prompts, completions) decided again by the
         proposed policy, offline, with the recorded agent, task, grants, arguments and definition
         hash; prints what would change, grouped by rule. Exit 0 when nothing changes, 3 when
         decisions change (a CI gate), 2 on a bad policy. Filters take * globs; --since/--until take
         ISO times or ages (15m, 2h, 7d)`,
    options: {
      sub: { type: 'string' },
      issuer: { type: 'string' },
      client: { type: 'string' },
      tenant: { type: 'string' },
      'auth-method': { type: 'string' },
      scope: { type: 'string', multiple: true },
      claim: { type: 'string', multiple: true },
      task: { type: 'string', multiple: true },
      'in-task': { type: 'boolean' },
      tool: { type: 'string' },
      prompt: { type: 'string' },
      resource: { type: 'string' },
      args: { type: 'string' },
      list: { type: 'boolean' },
      policy: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      agent: { type: 'string' },
      server: { type: 'string' },
    },
    run: async (ctx, positionals, values) =>
      (await import('./policy.js')).runPolicy(ctx, positionals, values as ExplainFlags),
  },
  task: {
    summary: 'list tasks, revoke a task (every gateway on the data folder, from its next call)',
    usage: `mcp-warden task list [--all] [--json]
mcp-warden task revoke ID

list    open tasks (from tokens and from warden__begin_task); --all includes ended ones
revoke  end a task now: every gateway sharing the data folder refuses it from its next call`,
    options: { all: { type: 'boolean' }, json: { type: 'boolean' } },
    run: async (ctx, positionals, values) =>
      (await import('./tasks.js')).runTask(ctx, positionals, values as { all?: boolean; json?: boolean }),
  },
  console: {
    summary: 'the reviewer console: serve it read-only from the data folder, or print a sign-in link (login)',
    spec: async () => import('./console.js').then((m) => ({ usage: m.CONSOLE_USAGE, options: m.CONSOLE_OPTIONS })),
    run: async (ctx, positionals, values) => (await import('./console.js')).runConsole(ctx, positionals, values),
  },
  approvals: {
    summary: 'calls waiting for a person: list, show, approve or deny them',
    spec: async () =>
      import('./approvals.js').then((m) => ({ usage: m.APPROVALS_USAGE, options: m.APPROVALS_OPTIONS })),
    run: async (ctx, positionals, values) => (await import('./approvals.js')).runApprovals(ctx, positionals, values),
  },
  tools: {
    summary: 'tool and prompt definition pins: list, diff, approve or reject changed definitions',
    spec: async () => import('./tools.js').then((m) => ({ usage: m.TOOLS_USAGE, options: m.TOOLS_OPTIONS })),
    run: async (ctx, positionals, values) => (await import('./tools.js')).runTools(ctx, positionals, values),
  },
  store: {
    summary:
      "bring the store's schema up to date (SQLite state.db, or the shared PostgreSQL); copy the audit log to PostgreSQL",
    spec: async () => import('./store.js').then((m) => ({ usage: m.STORE_USAGE, options: m.STORE_OPTIONS })),
    run: async (ctx, positionals, values) => (await import('./store.js')).runStore(ctx, positionals, values),
  },
  agent: {
    summary: 'revoke an agent: its current tokens and tasks stop working everywhere',
    usage: `mcp-warden agent revoke SUBJECT [--issuer ISS] [--reason TEXT]

Refuses every token for SUBJECT issued up to now (from any issuer, or only ISS) and revokes its open
tasks, from the next call on every gateway sharing the data folder. A token issued afterwards works.`,
    options: { issuer: { type: 'string' }, reason: { type: 'string' } },
    run: async (ctx, positionals, values) =>
      (await import('./tasks.js')).runAgent(ctx, positionals, values as { issuer?: string; reason?: string }),
  },
};

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, cmd]) => `  ${name.padEnd(width)}  ${cmd.summary}`);
  return `mcp-warden ${VERSION}: a governing MCP gateway

Usage: mcp-warden [global options] <command> [options]

Commands:
${lines.join('\n')}

${GLOBAL_HELP}
  -v, --version        print the version

Run "mcp-warden <command> --help" for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const first = commandIndex(argv);
  const name = first === -1 ? undefined : argv[first];
  if (name === undefined) {
    if (argv.includes('--version') || argv.includes('-v')) {
      process.stdout.write(`${VERSION}\n`);
      return EXIT.ok;
    }
    const asked = argv.includes('--help') || argv.includes('-h');
    (asked ? process.stdout : process.stderr).write(`${topHelp()}\n`);
    return asked ? EXIT.ok : EXIT.usage;
  }
  if (name === 'help') {
    const topic = argv[first + 1];
    const cmd = topic ? COMMANDS[topic] : undefined;
    process.stdout.write(`${cmd ? `${(await specOf(cmd)).usage}\n\n${GLOBAL_HELP}` : topHelp()}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`mcp-warden: unknown command "${name}"\n\n${topHelp()}\n`);
    return EXIT.usage;
  }
  try {
    const spec = await specOf(command);
    const { values, positionals } = parseArgs({
      args: [...argv.slice(0, first), ...argv.slice(first + 1)],
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`${spec.usage}\n\n${GLOBAL_HELP}\n`);
      return EXIT.ok;
    }
    const ctx: CommandContext = {
      configPath: (values.config as string | undefined) ?? 'mcp.config.json',
      configExplicit: values.config !== undefined,
      dataDir: values['data-dir'] as string | undefined,
    };
    return await command.run(ctx, positionals, values);
  } catch (error) {
    return reportError(error, name);
  }
}

function specOf(command: Command): Promise<Spec> {
  return 'spec' in command ? command.spec() : Promise.resolve(command);
}

/** The command name: the first argument that is neither an option nor the value of a global option. */
function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) return i;
    if (arg === '--config' || arg === '-c' || arg === '--data-dir') i += 1; // `--config FILE` before the command
  }
  return -1;
}

function reportError(error: unknown, command: string): number {
  if (
    error instanceof UsageError ||
    (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
  ) {
    process.stderr.write(`mcp-warden ${command}: ${error.message}\nRun "mcp-warden ${command} --help" for usage.\n`);
    return EXIT.usage;
  }
  if (isWardenError(error)) {
    process.stderr.write(`mcp-warden ${command}: ${error.message}\n`);
    return isValidation(error) ? EXIT.usage : EXIT.failure;
  }
  process.stderr.write(
    `mcp-warden ${command}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return EXIT.failure;
}

function isValidation(error: WardenError): boolean {
  return [
    'ERR_CONFIG_NOT_FOUND',
    'ERR_CONFIG_INVALID',
    'ERR_CONFIG_INTERPOLATION',
    'ERR_USAGE',
    'ERR_NAME_COLLISION',
    'ERR_UNSAFE_STARTUP',
    'ERR_TOKEN_INVALID',
    'ERR_KEYS_EXIST',
    'ERR_KEYS_MISSING',
    'ERR_POLICY_INVALID',
    'ERR_PIN_AMBIGUOUS',
  ].includes(error.code);
}
