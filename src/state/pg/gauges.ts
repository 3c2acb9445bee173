import type { PgPool } from './pool.js';

/**
 * The figures `/metrics` reads at scrape time from the shared store (approvals waiting, definitions held
 * back), as every replica sees them. A store that cannot be reached gives no figure (undefined), never an
 * error of the scrape.
 */
export class PgStateGauges {
  constructor(
    private readonly pool: PgPool,
    private readonly now: () => number = Date.now,
  ) {}

  async approvalsWaiting(): Promise<number | undefined> {
    try {
      const result = await this.pool.query<{ n: string }>(
        "SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending' AND expires_at > $1",
        [this.now()],
      );
      return Number(result.rows[0]?.n ?? 0);
    } catch {
      return undefined;
    }
  }

  async definitionsHeld(): Promise<Record<string, number> | undefined> {
    try {
      const result = await this.pool.query<{ status: string; n: string }>(
        "SELECT status, COUNT(*) AS n FROM definition_pins WHERE status IN ('quarantined', 'pending') GROUP BY status",
      );
      return Object.fromEntries(result.rows.map((row) => [row.status, Number(row.n)]));
    } catch {
      return undefined;
    }
  }

  /** The pool is the store's; closing it is the store's job. */
  close(): void {}
}
