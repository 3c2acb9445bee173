import type { JWK } from 'jose';
import { publishedJwks, type KeyStore } from '../keys.js';
import type { SharedSigningKeys, SigningKeyRow } from '../shared.js';
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
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly shared: SharedSigningKeys,
    private readonly link: PgStoreLink,
    private readonly local: KeyStore,
    private readonly options: PublishedKeysOptions = {},
  ) {}

  /** Publishes this replica's keys and reads everyone's (a failure is a start-up error). */
  async start(): Promise<void> {
    this.unsubscribe.push(
      this.link.onChange((table) => {
        if (table === 'signing_keys') void this.refresh();
      }),
      this.link.onResync(() => void this.refresh()),
    );
    await this.sync();
    this.schedule();
  }

  /** The JWKs other replicas (and this one) published that a verifier accepts at `now`. */
  jwks(now: number, graceMs: number): JWK[] {
    return publishedJwks(this.rows, now, graceMs);
  }

  refresh(): Promise<void> {
    this.reading ??= this.sync()
      .catch((error: unknown) => this.options.onError?.(error instanceof Error ? error.message : String(error)))
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private async sync(): Promise<void> {
    const own = this.local.exists() ? this.local.publicKeyRows() : [];
    const signature = JSON.stringify(own.map((k) => [k.kid, k.retiredAt ?? null]));
    if (signature !== this.published) {
      await this.shared.publishSigningKeys(own);
      this.published = signature;
    }
    this.rows = await this.shared.signingKeys();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => {
        if (this.timer) this.schedule();
      });
    }, this.options.pollMs ?? 1_000);
    this.timer.unref();
  }
}
