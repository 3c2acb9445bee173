/** `changed`: `policy replay` found decisions the proposed policy would change (for CI gates). */
export const EXIT = { ok: 0, failure: 1, usage: 2, changed: 3 } as const;

export interface CommandContext {
  configPath: string;
  /** Whether --config was given (a missing default file gets a friendlier hint). */
  configExplicit: boolean;
  dataDir: string | undefined;
}

export class UsageError extends Error {}
