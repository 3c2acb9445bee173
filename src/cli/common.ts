import type { Logger } from '../observe/logger.js';

/** `changed`: `policy replay` found decisions the proposed policy would change (for CI gates). */
export const EXIT = { ok: 0, failure: 1, usage: 2, changed: 3 } as const;

export interface CommandContext {
  configPath: string;
  /** Whether --config was given (a missing default file gets a friendlier hint). */
  configExplicit: boolean;
  dataDir: string | undefined;
}

export class UsageError extends Error {}

/** Resolves on the first SIGTERM or SIGINT, logging which. */
export function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
