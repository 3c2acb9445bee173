// Over 300 lines: the walk and the findings it explains (breaks, tail, checkpoints, exported checkpoints) read together; the stores only feed it.
import { ENTRY_COLUMNS, GENESIS_HASH, entryHash, type ChainHead, type StoredEntry } from './chain.js';
import { listCheckpoints, signatureOf, verifyJws, type CheckpointRow } from './checkpoints.js';
import type { Db } from './store.js';

export type ProblemKind =
  'modified' | 'deleted' | 'reordered' | 'truncated' | 'bad_signature' | 'checkpoint' | 'anchor';

export interface Problem {
  kind: ProblemKind;
  /** The entry (or first entry) concerned. */
  seq?: number;
  checkpoint?: number;
  message: string;
  /** The entries this problem accounts for (other findings about them are consequences). */
  covers?: [number, number][];
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoints: number;
  signaturesVerified: number;
  anchor: { seq: number; hash: string } | null;
  problems: Problem[];
  warnings: string[];
}

/** Checkpoints kept elsewhere (`audit checkpoints --export`), with the public keys that sign them. */
export interface ExternalCheckpoints {
  keys: Map<string, object>;
  checkpoints: CheckpointRow[];
}

interface Break {
  seq: number;
  prevHash: string;
  gapFrom: number;
}

const MAX_LOOKUPS = 50;

/** What verification reads from a store besides the entries themselves. */
export interface ChainFacts {
  anchor: { seq: number; hash: string } | null;
  head: ChainHead | undefined;
  checkpoints: CheckpointRow[];
}

/** What verification asks a store after the walk: where links point, the prune record, open intents. */
export interface ChainLookups {
  /** The seqs of the entries with these hashes (at most MAX_LOOKUPS); a hash no entry has is left out. */
  seqsOfHashes(hashes: string[]): Map<string, number> | Promise<Map<string, number>>;
  /** How many `audit.pruned` events name this anchor. */
  prunedEvents(seq: number, hash: string): number | Promise<number>;
  /** Intents of stopped gateways still without an outcome. */
  openOfStopped(): number | Promise<number>;
}

/** The walk over the entries in seq order: every hash recomputed, every link followed. */
export class ChainWalk {
  readonly problems: Problem[] = [];
  readonly hashAt = new Map<number, string>();
  readonly breaks: Break[] = [];
  count = 0;
  first: number | null = null;
  last: StoredEntry | undefined;
  private expectedPrev: string;
  private expectedSeq: number;
  private readonly wanted: Set<number>;

  constructor(
    readonly facts: ChainFacts,
    readonly external?: ExternalCheckpoints,
  ) {
    this.wanted = new Set([...facts.checkpoints, ...(external?.checkpoints ?? [])].map((c) => c.seq));
    this.expectedPrev = facts.anchor?.hash ?? GENESIS_HASH;
    this.expectedSeq = (facts.anchor?.seq ?? 0) + 1;
  }

  add(row: StoredEntry): void {
    this.count += 1;
    this.first ??= row.seq;
    if (this.wanted.has(row.seq)) this.hashAt.set(row.seq, row.hash);
    if (entryHash(row.prevHash, row) !== row.hash) {
      this.problems.push({
        kind: 'modified',
        seq: row.seq,
        covers: [[row.seq, row.seq]],
        message: `entry ${row.seq} (${row.kind} ${row.id}) was modified: its content no longer matches its hash`,
      });
    } else if (row.prevHash !== this.expectedPrev) {
      this.breaks.push({ seq: row.seq, prevHash: row.prevHash, gapFrom: this.expectedSeq });
    } else if (row.seq !== this.expectedSeq) {
      this.problems.push({
        kind: 'modified',
        seq: row.seq,
        message: `entry ${row.seq} was renumbered: the chain is intact but expected seq ${this.expectedSeq}`,
      });
    }
    this.expectedPrev = row.hash;
    this.expectedSeq = row.seq + 1;
    this.last = row;
  }

  /** The links to look up after the walk (at most MAX_LOOKUPS). */
  get lookups(): string[] {
    return this.breaks.slice(0, MAX_LOOKUPS).map((b) => b.prevHash);
  }

  /** The report, given where the broken links point, the prune record count and the open intents. */
  finish(
    publicKeys: ReadonlyMap<string, object>,
    predecessors: ReadonlyMap<string, number | undefined>,
    prunedEvents: number,
    openOfStopped: number,
  ): VerifyReport {
    const { anchor, head, checkpoints } = this.facts;
    const problems = this.problems;
    const warnings: string[] = [];
    explainBreaks(this.breaks, predecessors, problems, anchor);
    checkTail(head, this.last, anchor, problems);
    const signaturesVerified = checkCheckpoints(checkpoints, publicKeys, this.hashAt, anchor, this.last, problems);
    if (this.external) checkExternal(this.external, checkpoints, publicKeys, this.hashAt, anchor, this.last, problems);
    if (anchor && prunedEvents === 0)
      problems.push({
        kind: 'anchor',
        seq: anchor.seq,
        message: `entries 1-${anchor.seq} were removed without a recorded prune (no audit.pruned event names this anchor)`,
      });
    if (openOfStopped > 0)
      warnings.push(
        `${openOfStopped} intents of stopped gateways have no outcome yet (marked unknown_outcome at the next gateway start)`,
      );
    const kept = consolidate(problems);
    return {
      ok: kept.length === 0,
      entries: this.count,
      firstSeq: this.first,
      lastSeq: this.last?.seq ?? null,
      checkpoints: checkpoints.length,
      signaturesVerified,
      anchor,
      problems: kept,
      warnings,
    };
  }
}

/** Verification over any store: the walk is the same; only how rows and lookups arrive differs. */
export async function verifyFrom(
  facts: ChainFacts,
  rows: AsyncIterable<StoredEntry> | Iterable<StoredEntry>,
  lookups: ChainLookups,
  publicKeys: ReadonlyMap<string, object>,
  external?: ExternalCheckpoints,
): Promise<VerifyReport> {
  const walk = new ChainWalk(facts, external);
  for await (const row of rows) walk.add(row);
  const predecessors = walk.lookups.length > 0 ? await lookups.seqsOfHashes(walk.lookups) : new Map<string, number>();
  const pruned = facts.anchor ? await lookups.prunedEvents(facts.anchor.seq, facts.anchor.hash) : 1;
  return walk.finish(publicKeys, predecessors, pruned, await lookups.openOfStopped());
}

/**
 * Walks the chain and the checkpoints and names what is wrong: a modified entry (its hash no longer
 * matches its content), deleted entries (a gap the next entry's link cannot bridge), reordered entries
 * (intact, but linked to an entry elsewhere), a truncated tail (the head or a signed checkpoint says
 * the chain went further), a bad signature, checkpoints deleted or altered, an unrecorded prune.
 */
export function verifyChain(
  db: Db,
  publicKeys: ReadonlyMap<string, object>,
  external?: ExternalCheckpoints,
): VerifyReport {
  const walk = new ChainWalk(sqliteFacts(db), external);
  for (const row of db.prepare<[], StoredEntry>(`SELECT ${ENTRY_COLUMNS} FROM entries ORDER BY seq`).iterate())
    walk.add(row);
  const lookups = sqliteLookups(db);
  const predecessors = lookups.seqsOfHashes(walk.lookups);
  const anchor = walk.facts.anchor;
  const pruned = anchor ? lookups.prunedEvents(anchor.seq, anchor.hash) : 1;
  return walk.finish(publicKeys, predecessors, pruned, lookups.openOfStopped());
}

function sqliteFacts(db: Db): ChainFacts {
  return {
    anchor:
      db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM anchors ORDER BY seq DESC LIMIT 1').get() ??
      null,
    head: db.prepare<[], ChainHead>('SELECT seq, hash FROM chain_head WHERE id = 1').get(),
    checkpoints: listCheckpoints(db),
  };
}

function sqliteLookups(db: Db): {
  seqsOfHashes(hashes: string[]): Map<string, number>;
  prunedEvents(seq: number, hash: string): number;
  openOfStopped(): number;
} {
  return {
    seqsOfHashes: (hashes) => {
      const query = db.prepare<[string], { seq: number }>('SELECT seq FROM entries WHERE hash = ?');
      const found = new Map<string, number>();
      for (const hash of hashes) {
        const seq = query.get(hash)?.seq;
        if (seq !== undefined) found.set(hash, seq);
      }
      return found;
    },
    prunedEvents: (seq, hash) =>
      db
        .prepare<[number, string], { n: number }>(
          "SELECT count(*) AS n FROM entries WHERE kind = 'event' AND type = 'audit.pruned' AND json_extract(body, '$.data.upTo') = ? AND json_extract(body, '$.data.anchorHash') = ?",
        )
        .get(seq, hash)!.n,
    openOfStopped: () =>
      db
        .prepare<[], { n: number }>(
          'SELECT count(*) AS n FROM open_intents o JOIN instances i ON i.id = o.instance WHERE i.stopped_at IS NOT NULL',
        )
        .get()!.n,
  };
}

/**
 * One problem, one line: a checkpoint that signed an entry inside an already reported deleted range,
 * or beyond an already reported truncation, adds nothing; of several truncations only the furthest stays.
 */
function consolidate(problems: Problem[]): Problem[] {
  const covered = problems.flatMap((p) => (p.checkpoint === undefined ? (p.covers ?? []) : []));
  const consequence = (p: Problem) =>
    p.checkpoint !== undefined &&
    (p.kind === 'deleted' || p.kind === 'modified') &&
    covered.some(([from, to]) => p.seq! >= from && p.seq! <= to);
  const truncations = problems.filter((p) => p.kind === 'truncated' && p.checkpoint !== undefined);
  const furthest = truncations.reduce<Problem | undefined>(
    (best, p) => (best && best.seq! >= p.seq! ? best : p),
    undefined,
  );
  return problems
    .filter((p) => !consequence(p))
    .filter((p) => !(p.kind === 'truncated' && p.checkpoint !== undefined && p !== furthest))
    .map(({ covers: _covers, ...rest }) => rest)
    .sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
}

/** An intact entry that does not follow its neighbour: deleted entries before it, a replaced one, or reordering. */
function explainBreaks(
  breaks: Break[],
  predecessors: ReadonlyMap<string, number | undefined>,
  problems: Problem[],
  anchor: { seq: number } | null,
): void {
  const predecessor = new Map<number, number | undefined>();
  breaks.slice(0, MAX_LOOKUPS).forEach((b) => predecessor.set(b.seq, predecessors.get(b.prevHash)));
  // Where each entry was written: one after its predecessor's original place.
  const original = (seq: number, depth = 0): number => {
    if (!predecessor.has(seq) || depth > MAX_LOOKUPS) return seq;
    const pred = predecessor.get(seq);
    return pred === undefined ? seq : original(pred, depth + 1) + 1;
  };
  const moved = new Map<number, number>();
  for (const b of breaks) {
    if (!predecessor.has(b.seq)) {
      problems.push({
        kind: 'modified',
        seq: b.seq,
        message: `entry ${b.seq} does not link to the entry before it (further breaks not analysed)`,
      });
      continue;
    }
    if (predecessor.get(b.seq) === undefined) {
      if (b.seq > b.gapFrom) {
        const range = b.seq - 1 === b.gapFrom ? `entry ${b.gapFrom} was` : `entries ${b.gapFrom}-${b.seq - 1} were`;
        const where = b.gapFrom === (anchor?.seq ?? 0) + 1 ? ' at the start of the log' : '';
        problems.push({
          kind: 'deleted',
          seq: b.gapFrom,
          covers: [[b.gapFrom, b.seq - 1]],
          message: `${range} deleted${where} (entry ${b.seq} links to an entry that no longer exists)`,
        });
      } else {
        problems.push({
          kind: 'modified',
          seq: b.seq - 1,
          covers: [[b.seq - 1, b.seq - 1]],
          message: `entry ${b.seq - 1} was replaced (its hash was recomputed; entry ${b.seq} links to the original)`,
        });
      }
      continue;
    }
    const was = original(b.seq);
    if (was !== b.seq) moved.set(b.seq, was);
  }
  const reported = new Set<number>();
  for (const [now, was] of moved) {
    if (reported.has(now)) continue;
    reported.add(now);
    if (moved.get(was) === now) {
      reported.add(was);
      problems.push({
        kind: 'reordered',
        seq: Math.min(now, was),
        covers: [
          [now, now],
          [was, was],
        ],
        message: `entries ${Math.min(now, was)} and ${Math.max(now, was)} were swapped`,
      });
    } else {
      problems.push({
        kind: 'reordered',
        seq: now,
        covers: [[now, now]],
        message: `entry ${now} is out of order: it was written as entry ${was}`,
      });
    }
  }
}

function checkTail(
  head: ChainHead | undefined,
  last: StoredEntry | undefined,
  anchor: { seq: number } | null,
  problems: Problem[],
): void {
  const lastSeq = last?.seq ?? anchor?.seq ?? 0;
  if (!head) {
    if (last) problems.push({ kind: 'modified', message: 'the chain head record is missing' });
    return;
  }
  if (head.seq > lastSeq) {
    problems.push({
      kind: 'truncated',
      seq: lastSeq + 1,
      message: `tail truncated: entries ${lastSeq + 1}-${head.seq} were deleted (the log ends at ${lastSeq})`,
    });
  } else if (head.seq < lastSeq || (last && head.hash !== last.hash)) {
    problems.push({
      kind: 'modified',
      seq: lastSeq,
      message: `the chain head (${head.seq}) does not match the last entry (${lastSeq})`,
    });
  }
}

function checkCheckpoints(
  checkpoints: CheckpointRow[],
  keys: ReadonlyMap<string, object>,
  hashAt: Map<number, string>,
  anchor: { seq: number; hash: string } | null,
  last: StoredEntry | undefined,
  problems: Problem[],
): number {
  let verified = 0;
  let prev: CheckpointRow | undefined;
  let prevBad = false;
  for (const cp of checkpoints) {
    const check = verifyJws(cp.jws, keys);
    if (!check.ok) {
      problems.push({
        kind: 'bad_signature',
        checkpoint: cp.id,
        seq: cp.seq,
        message: `checkpoint ${cp.id}: ${check.reason}`,
      });
    } else {
      verified += 1;
      const p = check.payload;
      if (p.seq !== cp.seq || p.hash !== cp.hash || p.count !== cp.count || p.prev !== cp.prevSig) {
        problems.push({
          kind: 'checkpoint',
          checkpoint: cp.id,
          seq: cp.seq,
          message: `checkpoint ${cp.id}: its columns differ from what was signed`,
        });
      }
      const expectedPrev = prev ? signatureOf(prev.jws) : null;
      if (p.prev !== expectedPrev && !prevBad) {
        problems.push({
          kind: 'checkpoint',
          checkpoint: cp.id,
          seq: cp.seq,
          message: `checkpoint ${cp.id}: does not chain to the checkpoint before it (a checkpoint was deleted, inserted or reordered)`,
        });
      }
      matchRows(`checkpoint ${cp.id}`, cp.id, p.seq, p.hash, hashAt, anchor, last, problems);
    }
    prevBad = !check.ok;
    prev = cp;
  }
  return verified;
}

/** A signed (seq, hash) against the entries: the entry must exist (else truncation) and carry that hash. */
function matchRows(
  label: string,
  id: number,
  seq: number,
  hash: string,
  hashAt: Map<number, string>,
  anchor: { seq: number; hash: string } | null,
  last: StoredEntry | undefined,
  problems: Problem[],
): void {
  if (anchor && seq <= anchor.seq) {
    if (seq === anchor.seq && anchor.hash !== hash)
      problems.push({
        kind: 'anchor',
        checkpoint: id,
        seq,
        message: `${label}: the prune anchor's hash differs from the signed one`,
      });
    return;
  }
  const stored = hashAt.get(seq);
  if (stored === undefined) {
    if (last === undefined || seq > last.seq) {
      problems.push({
        kind: 'truncated',
        checkpoint: id,
        seq,
        message: `tail truncated: ${label} signed ${seq} entries but the log ends at ${last?.seq ?? anchor?.seq ?? 0}`,
      });
    } else {
      problems.push({ kind: 'deleted', checkpoint: id, seq, message: `entry ${seq}, signed by ${label}, was deleted` });
    }
  } else if (stored !== hash) {
    problems.push({
      kind: 'modified',
      checkpoint: id,
      seq,
      message: `entries up to ${seq} were rewritten: the hash at ${seq} differs from the one signed by ${label}`,
    });
  }
}

function checkExternal(
  external: ExternalCheckpoints,
  inDb: CheckpointRow[],
  dbKeys: ReadonlyMap<string, object>,
  hashAt: Map<number, string>,
  anchor: { seq: number; hash: string } | null,
  last: StoredEntry | undefined,
  problems: Problem[],
): void {
  const present = new Set(inDb.map((c) => c.jws));
  const keys = new Map([...dbKeys, ...external.keys]);
  for (const cp of external.checkpoints) {
    const check = verifyJws(cp.jws, keys);
    if (!check.ok) {
      problems.push({
        kind: 'bad_signature',
        checkpoint: cp.id,
        seq: cp.seq,
        message: `exported checkpoint ${cp.id}: ${check.reason}`,
      });
      continue;
    }
    if (!present.has(cp.jws)) {
      problems.push({
        kind: 'checkpoint',
        checkpoint: cp.id,
        seq: check.payload.seq,
        message: `exported checkpoint ${cp.id} (entry ${check.payload.seq}) is missing from the database`,
      });
    }
    matchRows(
      `exported checkpoint ${cp.id}`,
      cp.id,
      check.payload.seq,
      check.payload.hash,
      hashAt,
      anchor,
      last,
      problems,
    );
  }
}
