import type { Logger } from 'pino';
import type { Governance } from '../gateway/governance.js';
import type { PinBackend } from '../integrity/pin-backend.js';
import { StoreFollower } from '../state/pg/follower.js';
import type { PgStore } from '../state/pg/open.js';
import { RevocationCache } from '../state/pg/revocation-cache.js';
import { PgSharedState } from '../state/pg/shared.js';
import { PublishedKeys } from '../state/pg/published-keys.js';
import type { KeyStore } from '../state/keys.js';
import type { JwtSetup } from './identity.js';

/**
 * This replica's signing keys published in the shared store, and every replica's read back, so a token
 * of the built-in issuer (with `jwt`) or a minted credential signed by any replica verifies against any
 * replica's keys. After the audit log opened (it creates the key on a first start).
 */
export async function sharedKeys(
  store: PgStore,
  state: PgSharedState,
  local: KeyStore,
  jwt: JwtSetup | undefined,
  logger: Logger,
): Promise<PublishedKeys> {
  const log = logger.child({ component: 'store' });
  const keys = new PublishedKeys(state, store.link, local, {
    onError: (message) => log.warn({ err: message }, 'signing keys could not be published or re-read'),
  });
  await keys.start();
  jwt?.otherKeys.use(keys);
  return keys;
}

/**
 * Governance over the shared store (PostgreSQL): revocations read from this replica's cache (re-read on
 * NOTIFY, after a reconnect, and polled), rate limits counted in the store, task rows kept in the store. What the pipeline asks
 * before every call: is the store up and the cache re-read since (fail closed).
 */
export async function sharedGovernance(
  store: PgStore,
  governance: Governance | undefined,
  logger: Logger,
): Promise<{ cache: RevocationCache; state: PgSharedState }> {
  const state = new PgSharedState(store.pool);
  const log = logger.child({ component: 'store' });
  const cache = new RevocationCache(state, store.link, {
    now: () => governance?.clock.now() ?? Date.now(),
    onError: (message) =>
      log.warn({ err: message }, 'revocations could not be re-read; calls are refused until they are'),
  });
  store.link.onStatus((up) =>
    up
      ? log.info('shared store reachable again; calls resume once revocations are re-read')
      : log.error({ store: store.health().error }, 'shared store unreachable; refusing calls (fail closed)'),
  );
  await cache.start();
  governance?.useSharedStore(cache, state, state);
  return { cache, state };
}

/**
 * Definition pins in the shared store: every replica records what it sees there and follows the table
 * (NOTIFY, a re-read after a reconnect, polling), so a pin decided on any replica or with the CLI applies
 * on every replica from its next list or call.
 */
export function sharedPins(store: PgStore, state: PgSharedState, logger: Logger): () => PinBackend {
  const log = logger.child({ component: 'pins' });
  let follower: StoreFollower | undefined;
  return () => ({
    where: 'the shared store',
    statuses: () => state.pinStatuses(),
    observe: (observations, pinningOf, now) => state.observePins(observations, pinningOf, now),
    follow(reload) {
      follower = new StoreFollower(store.link, {
        tables: new Set(['definition_pins']),
        read: reload,
        onError: (message) => log.warn({ err: message }, 'pins could not be re-read; keeping the last known'),
      });
      follower.start();
    },
    close: () => follower?.close(),
  });
}
