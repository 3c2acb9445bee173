import { pino, type Logger, type LevelWithSilent } from 'pino';
import { cleanLogLine } from '../model/sanitize.js';

export type { Logger };

/**
 * Paths never written to a log line, whatever a caller passes. Fixed in code on purpose: a config
 * option to weaken redaction would be a way to leak.
 */
export const REDACT_PATHS: readonly string[] = [
  'token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'secret',
  'secrets',
  'password',
  'arguments',
  'params.arguments',
  '*.token',
  '*.authorization',
  '*.secret',
  '*.password',
];

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Pretty output for people; defaults to whether stderr is a terminal. */
  pretty?: boolean;
  name?: string;
  /**
   * The egress stage's log-line scrubber (`Egress.logLine`): escapes and invisible characters cleaned,
   * then every secret value removed. Without one (CLI commands that resolve no secret) lines are only cleaned.
   */
  scrubLine?: (line: string) => string;
}

/** One pino instance per process, always writing to stderr: stdout belongs to the protocol or the CLI. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env.MCP_WARDEN_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info';
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const base = { name: options.name ?? 'mcp-warden' };
  const redact = { paths: [...REDACT_PATHS], censor: '[REDACTED]' };
  // Every secret value (in every form) is removed from each line as it is written, by the egress stage.
  // Downstream text that reached a field uncleaned loses escapes, controls, bidi, zero-width and tag characters.
  const hooks = { streamWrite: options.scrubLine ?? cleanLogLine };
  if (pretty) {
    return pino({
      level,
      base,
      redact,
      hooks,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l' },
      },
    });
  }
  return pino({ level, base, redact, hooks }, pino.destination({ fd: 2, sync: false }));
}
