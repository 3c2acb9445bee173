import type { AuditEvent } from '../pipeline/stages.js';
import type { Observation, PinState, ServerPinning } from './pins.js';

/**
 * Where a registry's pins are kept. state.db (`PinStore`) answers synchronously and says through
 * `dataVersion` when another process committed; the shared store (PostgreSQL) answers asynchronously and
 * pushes changes instead (`follow`: NOTIFY, a re-read after a reconnect, polling).
 */
export interface PinBackend {
  /** For log lines: the file, or the shared store. */
  readonly where: string;
  /** Changes whenever another process committed (state.db's `PRAGMA data_version`), read before a verdict. */
  dataVersion?(): number;
  statuses(): PinState[] | Promise<PinState[]>;
  observe(
    observations: readonly Observation[],
    pinningOf: (server: string) => ServerPinning,
    now: number,
  ): readonly AuditEvent[] | Promise<readonly AuditEvent[]>;
  /** Starts calling `reload` whenever the pins may have changed elsewhere. */
  follow?(reload: () => Promise<void>): void;
  close(): void;
}
