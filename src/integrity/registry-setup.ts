import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { AuditEvent, Scrubber } from '../pipeline/stages.js';
import { stateFile } from '../state/db.js';
import type { PinBackend } from './pin-backend.js';
import { PinStore, type ServerPinning } from './pins.js';
import { PinRegistry } from './registry.js';

const OFF: ServerPinning = { mode: 'off', quarantineFlagged: false };

/**
 * The registry for a config: undefined when no enabled server pins. Opens `<dataDir>/state.db`, or uses
 * the shared store's pins when given (`shared`, store.kind postgres), and reads them (throws
 * ERR_STATE_UNAVAILABLE: a gateway that cannot check pins does not start).
 */
export async function pinRegistryFor(
  loaded: LoadedConfig,
  logger: Logger,
  record: (event: AuditEvent) => Promise<unknown>,
  egress: Pick<Scrubber, 'scrubValue'>,
  shared?: () => PinBackend,
): Promise<PinRegistry | undefined> {
  const servers = Object.entries(loaded.config.servers).filter(([, spec]) => spec.enabled);
  if (!servers.some(([, spec]) => spec.pinning !== 'off')) return undefined;
  const settings = new Map<string, ServerPinning>(
    servers.map(([id, spec]) => [id, { mode: spec.pinning, quarantineFlagged: spec.quarantineFlagged }]),
  );
  const store = shared ? shared() : PinStore.open(stateFile(loaded.dataDir));
  const registry = new PinRegistry(
    store,
    (server) => settings.get(server) ?? OFF,
    logger.child({ component: 'pins' }),
    record,
    egress,
  );
  try {
    await registry.load();
  } catch (error) {
    registry.close();
    throw error;
  }
  return registry;
}
