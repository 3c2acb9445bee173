import { WardenError } from '../errors.js';

/** Why a listener could not bind, by the system's error code, in words a person can act on. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another process listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: "that address is not one of this machine's",
};

export interface ListenTarget {
  /** "the gateway" or "the reviewer console". */
  listener: string;
  host: string;
  port: number;
  /** What to change: the flag or the config key. */
  fix: string;
}

/**
 * A failed bind becomes one line naming the listener, the address and the fix (ERR_LISTEN); any other
 * error is returned as it is.
 */
export function listenFailure(error: unknown, target: ListenTarget): unknown {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
  const reason = code === undefined ? undefined : REASONS[code];
  if (reason === undefined) return error;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return new WardenError(
    'ERR_LISTEN',
    `${target.listener} cannot listen on ${host}:${target.port}: ${reason}; ${target.fix}`,
    { cause: error },
  );
}
