import type Database from 'better-sqlite3';
import { openStateDb } from '../state/db.js';

/**
 * Figures the metrics read from `state.db` at scrape time (approvals waiting, definitions held back):
 * another process (the CLI, the console) may change them, so they are counted, not tracked. The
 * connection is opened at the first scrape and never writes.
 */
export class StateGauges {
  private db: Database.Database | undefined;
  private statements:
    | {
        approvals: Database.Statement<[number], { n: number }>;
        held: Database.Statement<[], { status: string; n: number }>;
      }
    | undefined;

  constructor(
    private readonly file: string,
    private readonly now: () => number = Date.now,
  ) {}

  approvalsWaiting(): number | undefined {
    return this.read((s) => s.approvals.get(this.now())?.n ?? 0);
  }

  definitionsHeld(): Record<string, number> | undefined {
    return this.read((s) => Object.fromEntries(s.held.all().map((row) => [row.status, row.n])));
  }

  close(): void {
    if (this.db?.open) this.db.close();
    this.db = undefined;
    this.statements = undefined;
  }

  /** A figure that cannot be read (the file busy or gone) is left out of this scrape, never guessed. */
  private read<T>(query: (statements: NonNullable<StateGauges['statements']>) => T): T | undefined {
    try {
      if (!this.statements) {
        this.db = openStateDb(this.file);
        this.db.pragma('query_only = ON');
        this.statements = {
          approvals: this.db.prepare("SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending' AND expires_at > ?"),
          held: this.db.prepare(
            "SELECT status, COUNT(*) AS n FROM definition_pins WHERE status IN ('quarantined', 'pending') GROUP BY status",
          ),
        };
      }
      return query(this.statements);
    } catch {
      this.close();
      return undefined;
    }
  }
}
