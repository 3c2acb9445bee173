import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isWardenError, type WardenError } from '../errors.js';
import { runConfigCheck } from './config-check.js';
import { EXIT, UsageError, type CommandContext } from './common.js';
import { runServe, runStdio } from './run.js';

const VERSION = '0.1.0';

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CommandContext, positionals: string[], values: Record<string, unknown>): Promise<number>;
}

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

Serves MCP at http://H:P/mcp, plus /healthz. Binds 127.0.0.1 by default. Prints one line to stdout
when ready: "mcp-warden listening on http://H:P/mcp". --port 0 picks a free port.`,
    options: { host: { type: 'string' }, port: { type: 'string', short: 'p' } },
    run: (ctx, _positionals, values) => runServe(ctx, { host: values.host as string | undefined, port: values.port as string | undefined }),
  },
  stdio: {
    summary: 'run the gateway for one agent over stdin/stdout (Claude Desktop and other hosts)',
    usage: `mcp-warden stdio

Speaks MCP on stdin/stdout; logs go to stderr. Point the agent host's server command at it.`,
    options: {},
    run: (ctx) => runStdio(ctx),
  },
  config: {
    summary: 'validate a configuration file without starting anything',
    usage: `mcp-warden config check [FILE]

Validates FILE (default: --config, else ./mcp.config.json). Exit 0 when valid, 2 with every problem
named by file and JSON path when not.`,
    options: {},
    run: (ctx, positionals) => {
      const [sub, file, ...rest] = positionals;
      if (sub !== 'check' || rest.length > 0) throw new UsageError('usage: mcp-warden config check [FILE]');
      return runConfigCheck(ctx, file);
    },
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
  const first = argv.findIndex((arg) => !arg.startsWith('-'));
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
    process.stdout.write(`${cmd ? `${cmd.usage}\n\n${GLOBAL_HELP}` : topHelp()}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`mcp-warden: unknown command "${name}"\n\n${topHelp()}\n`);
    return EXIT.usage;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...argv.slice(0, first), ...argv.slice(first + 1)],
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`${command.usage}\n\n${GLOBAL_HELP}\n`);
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

function reportError(error: unknown, command: string): number {
  if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`mcp-warden ${command}: ${error.message}\nRun "mcp-warden ${command} --help" for usage.\n`);
    return EXIT.usage;
  }
  if (isWardenError(error)) {
    process.stderr.write(`mcp-warden ${command}: ${error.message}\n`);
    return isValidation(error) ? EXIT.usage : EXIT.failure;
  }
  process.stderr.write(`mcp-warden ${command}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.failure;
}

function isValidation(error: WardenError): boolean {
  return ['ERR_CONFIG_NOT_FOUND', 'ERR_CONFIG_INVALID', 'ERR_CONFIG_INTERPOLATION', 'ERR_USAGE', 'ERR_NAME_COLLISION', 'ERR_UNSAFE_STARTUP'].includes(error.code);
}
