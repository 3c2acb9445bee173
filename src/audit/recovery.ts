import { hostname } from 'node:os';
import { ChainAppender, ENTRY_COLUMNS, type StoredEntry } from './chain.js';
import { unknownOutcomeEntry } from './record.js';
import type { Db } from './store.js';

interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  stoppedAt: number | null;
}

/** True while a process with this PID exists on this machine (EPERM still means it exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Every intent gets an outcome: intents still open from gateway instances that are gone (stopped, or
 * their process no longer exists on this host) get an `unknown_outcome` entry appended to the chain.
 * Intents of live instances (other gateways sharing the file) are left alone. One transaction.
 */
export function recoverOpenIntents(db: Db, self: string, now: number): { count: number; instances: string[] } {
  const here = hostname();
  const instancesWithOpen = db.prepare<[], { instance: string }>('SELECT DISTINCT instance FROM open_intents');
  const instanceRow = db.prepare<[string], InstanceRow>(
    'SELECT id, host, pid, stopped_at AS stoppedAt FROM instances WHERE id = ?',
  );
  const running = db.prepare<[], InstanceRow>(
    'SELECT id, host, pid, stopped_at AS stoppedAt FROM instances WHERE stopped_at IS NULL',
  );
  const openOf = db.prepare<[string], StoredEntry>(
    `SELECT ${ENTRY_COLUMNS} FROM entries WHERE seq IN (SELECT seq FROM open_intents WHERE instance = ?) ORDER BY seq`,
  );
  const close = db.prepare('DELETE FROM open_intents WHERE instance = ?');
  const markEnded = db.prepare(
    "UPDATE instances SET stopped_at = ?, ended = 'crashed' WHERE id = ? AND stopped_at IS NULL",
  );
  const appender = new ChainAppender(db);

  const gone = (row: InstanceRow | undefined): boolean =>
    !row || row.stoppedAt !== null || (row.host === here && !isAlive(row.pid));

  return db
    .transaction(() => {
      const recovered: string[] = [];
      let count = 0;
      for (const { instance } of instancesWithOpen.all()) {
        if (instance === self || !gone(instanceRow.get(instance))) continue;
        const intents = openOf.all(instance);
        const reason = `gateway instance ${instance} stopped before recording an outcome (crash, kill or lost audit write)`;
        appender.append(intents.map((intent) => unknownOutcomeEntry(intent, self, now, reason)));
        close.run(instance);
        markEnded.run(now, instance);
        recovered.push(instance);
        count += intents.length;
      }
      for (const row of running.all()) if (row.id !== self && gone(row)) markEnded.run(now, row.id);
      return { count, instances: recovered };
    })
    .immediate();
}
