import type { Logger } from 'pino';
import type { Governance } from '../gateway/governance.js';
import type { PgStore } from '../state/pg/open.js';
import { RevocationCache } from '../state/pg/revocation-cache.js';
import { PgSharedState } from '../state/pg/shared.js';
import { PublishedKeys } from '../state/pg/published-keys.js';
import type { JwtSetup } from './identity.js';

/**
 * Governance over the shared store (PostgreSQL): revocations read from this replica's cache (re-read on
 * NOTIFY, after a reconnect, and polled), rate limits counted in the store, task rows kept in the store. What the pipeline asks
 * before every call: is the store up and the cache re-read since (fail closed).
 */
/**
 * This replica's signing keys published in the shared store, and every replica's read back, so a token
 * of the built-in issuer signed by any replica verifies here. After the audit log opened (it creates the
 * key on a first start).
 */
export async function sharedKeys(
  store: PgStore,
  state: PgSharedState,
  jwt: JwtSetup,
  logger: Logger,
): Promise<PublishedKeys> {
  const log = logger.child({ component: 'store' });
  const keys = new PublishedKeys(state, store.link, jwt.keys, {
    onError: (message) => log.warn({ err: message }, 'signing keys could not be published or re-read'),
  });
  await keys.start();
  jwt.otherKeys.use(keys);
  return keys;
}

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
