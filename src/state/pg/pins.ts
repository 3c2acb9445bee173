import type pg from 'pg';
import {
  MAX_PIN_LIST,
  PIN_ORDER,
  checkPinDecision,
  pinFromRaw,
  pinStateOf,
  planObservation,
  type Observation,
  type PinEvent,
  type PinFilter,
  type PinKey,
  type PinRow,
  type PinState,
  type RawPin,
  type ServerPinning,
  type SharedPins,
} from '../pin-rows.js';
import { PgTables } from './tables.js';

/** The advisory lock every change of a pin takes ("WA" "PN"): one writer at a time, as BEGIN IMMEDIATE on state.db. */
const PIN_LOCK = 0x5741_504e;

/**
 * Definition pins on PostgreSQL, shared by every replica and the CLI: the rules of state.db's store
 * (src/state/pin-rows.ts) applied in one transaction under one advisory lock, so replicas seeing the same
 * change at once record it once and a reviewer's decision applies to the hash they saw or not at all.
 * Every write fires the table's NOTIFY trigger: every replica re-reads its copy (src/integrity/registry.ts).
 */
export class PgPins extends PgTables implements SharedPins {
  async listPins(filter: PinFilter = {}): Promise<PinRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.status !== undefined) where.push(`status = $${values.push(filter.status)}`);
    if (filter.server !== undefined) where.push(`server = $${values.push(filter.server)}`);
    const limit = Math.min(Math.max(filter.limit ?? MAX_PIN_LIST, 0), MAX_PIN_LIST);
    const offset = Math.max(filter.offset ?? 0, 0);
    const result = await this.run('list pins', (pool) =>
      pool.query<RawPin>(
        `SELECT * FROM definition_pins ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ${PIN_ORDER}
         LIMIT $${values.push(limit)} OFFSET $${values.push(offset)}`,
        values,
      ),
    );
    return result.rows.map(pinFromRaw);
  }

  async findPins(ref: string): Promise<PinRow[]> {
    const slash = ref.indexOf('/');
    const result = await this.run('find pins', (pool) =>
      slash > 0
        ? pool.query<RawPin>('SELECT * FROM definition_pins WHERE server = $1 AND name = $2 ORDER BY kind DESC', [
            ref.slice(0, slash),
            ref.slice(slash + 1),
          ])
        : pool.query<RawPin>('SELECT * FROM definition_pins WHERE exposed = $1 ORDER BY server, kind DESC', [ref]),
    );
    return result.rows.map(pinFromRaw);
  }

  async pinStatuses(): Promise<PinState[]> {
    const result = await this.run('read pins', (pool) =>
      pool.query<RawPin>('SELECT server, kind, name, exposed, status, pinned_hash, current_hash FROM definition_pins'),
    );
    return result.rows.map(pinStateOf);
  }

  async getPin(key: PinKey): Promise<PinRow | undefined> {
    return this.run('read pin', (pool) => get(pool, key));
  }

  async observePins(
    observations: readonly Observation[],
    pinningOf: (server: string) => ServerPinning,
    now: number,
  ): Promise<PinEvent[]> {
    if (observations.length === 0) return [];
    return this.transaction('record tool definitions', async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [PIN_LOCK]);
      const events: PinEvent[] = [];
      for (const seen of observations) {
        const plan = planObservation(await get(client, seen), seen, pinningOf(seen.server));
        events.push(...plan.events);
        const write = plan.write;
        if (!write) continue;
        const key = [seen.server, seen.kind, seen.name];
        if (write.kind === 'exposed')
          await client.query('UPDATE definition_pins SET exposed = $4 WHERE server = $1 AND kind = $2 AND name = $3', [
            ...key,
            seen.exposed,
          ]);
        else if (write.kind === 'insert')
          await client.query(
            `INSERT INTO definition_pins (server, kind, name, exposed, status, pinned_hash, pinned_definition, current_hash, current_definition, flags, first_seen_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
            [
              ...key,
              seen.exposed,
              write.status,
              write.pinnedHash,
              write.pinnedDefinition,
              write.hash,
              write.definition,
              write.flags,
              now,
            ],
          );
        else
          await client.query(
            `UPDATE definition_pins SET exposed = $4, status = $5, current_hash = $6, current_definition = $7, flags = $8, updated_at = $9
             WHERE server = $1 AND kind = $2 AND name = $3`,
            [...key, seen.exposed, write.status, write.hash, write.definition, write.flags, now],
          );
      }
      return events;
    });
  }

  async approvePin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow> {
    return this.decide(
      key,
      'approve',
      expectedHash,
      `UPDATE definition_pins SET status = 'pinned', pinned_hash = current_hash, pinned_definition = current_definition,
         decided_at = $4, decided_by = $5, updated_at = $4
       WHERE server = $1 AND kind = $2 AND name = $3 RETURNING *`,
      [now, by],
    );
  }

  async rejectPin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow> {
    return this.decide(
      key,
      'reject',
      expectedHash,
      `UPDATE definition_pins SET status = 'rejected', decided_at = $4, decided_by = $5, updated_at = $4
       WHERE server = $1 AND kind = $2 AND name = $3 RETURNING *`,
      [now, by],
    );
  }

  private decide(
    key: PinKey,
    verb: 'approve' | 'reject',
    expectedHash: string | undefined,
    update: string,
    values: unknown[],
  ): Promise<PinRow> {
    return this.transaction(`${verb} pin`, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [PIN_LOCK]);
      checkPinDecision(key, await get(client, key), verb, expectedHash);
      const result = await client.query<RawPin>(update, [key.server, key.kind, key.name, ...values]);
      return pinFromRaw(result.rows[0]!);
    });
  }
}

async function get(db: Pick<pg.PoolClient, 'query'>, key: PinKey): Promise<PinRow | undefined> {
  const result = await db.query<RawPin>('SELECT * FROM definition_pins WHERE server = $1 AND kind = $2 AND name = $3', [
    key.server,
    key.kind,
    key.name,
  ]);
  return result.rows[0] && pinFromRaw(result.rows[0]);
}
