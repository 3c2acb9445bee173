import type { JWK } from 'jose';
import { publishedJwks, type KeyStore } from '../keys.js';
import type { SharedSigningKeys, SigningKeyRow } from '../shared.js';
import { StoreFollower } from './follower.js';
import type { PgStoreLink } from './link.js';

export interface PublishedKeysOptions {
  /** The polling fallback, and how often this replica's key file is looked at for a rotation. */
  pollMs?: number;
  onError?: (message: string) => void;
}

/**
 * Every replica's signing keys' public halves, as this replica knows them: its own published at start
 * and again whenever its key file changes (a rotation), everyone's re-read when the store announces a
 * change to `signing_keys` (NOTIFY), after a reconnect, and every `pollMs`. A token of the built-in issuer
 * signed by any replica then verifies here. While the store is unreachable the last copy is used: a
 * key is never withdrawn by an outage, only retired (and the store itself refuses calls then).
 */
export class PublishedKeys {
  private rows: SigningKeyRow[] = [];
  private published = '';
  private readonly follower: StoreFollower;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly shared: SharedSigningKeys,
    link: PgStoreLink,
    private readonly local: KeyStore,
    private readonly options: PublishedKeysOptions = {},
  ) {
    this.follower = new StoreFollower(link, {
      tables: new Set(['signing_keys']),
      ...(options.pollMs !== undefined && { pollMs: options.pollMs }),
      read: () => this.sync(),
      ...(options.onError && { onError: options.onError }),
    });
  }

  /** Publishes this replica's keys and reads everyone's (a failure is a start-up error). */
  async start(): Promise<void> {
    await this.sync();
    this.follower.start();
  }

  /** Called after a re-read that changed the set of published keys (a replica started, or rotated). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The JWKs other replicas (and this one) published that a verifier accepts at `now`. */
  jwks(now: number, graceMs: number): JWK[] {
    return publishedJwks(this.rows, now, graceMs);
  }

  refresh(): Promise<void> {
    return this.follower.refresh();
  }

  close(): void {
    this.follower.close();
  }

  private async sync(): Promise<void> {
    const own = this.local.exists() ? this.local.publicKeyRows() : [];
    const signature = JSON.stringify(own.map((k) => [k.kid, k.retiredAt ?? null]));
    if (signature !== this.published) {
      await this.shared.publishSigningKeys(own);
      this.published = signature;
    }
    const rows = await this.shared.signingKeys();
    const changed = JSON.stringify(rows) !== JSON.stringify(this.rows);
    this.rows = rows;
    if (changed) for (const listener of this.listeners) listener();
  }
}
