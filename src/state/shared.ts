// The store interface for state every replica must share (issue 19): revocations, rate-limit buckets
// counted across replicas, and tasks. SQLite (state.db, one machine) and PostgreSQL implement it; one
// contract suite (test/store/contract.test.ts) runs against both. Revocations are read as snapshots that
// a replica caches and re-reads when the store announces a change (NOTIFY on PostgreSQL, data_version on
// SQLite): the call path stays synchronous over the cache. Tasks are looked up in the store itself on
// the call that presents one (one primary-key read), so a task begun or ended on any replica is seen by
// the next call on every replica; writes are async. Approvals likewise: every change of status is one
// conditional statement in the store, so an approval is spent once across replicas.
import type { ApprovalBinding, ApprovalRequest, ApprovalRow, ApprovalStatus } from './approval-rows.js';
import type { SharedPins } from './pin-rows.js';

export interface AgentRevocationRow {
  subject: string;
  /** `*`: every issuer. */
  issuer: string;
  /** Tokens issued up to this time (epoch ms) are refused. */
  revokedAt: number;
  reason?: string;
}

/** What the identity and task stages check on every call, read whole into a per-replica cache. */
export interface RevocationSnapshot {
  agents: AgentRevocationRow[];
  tokenIds: Set<string>;
  /** Task ids revoked (open tasks ended as revoked, and ids revoked before any replica saw them). */
  taskIds: Set<string>;
}

/** One bucket a call must take a token from: a burst of `calls`, refilled evenly over `perSeconds`. */
export interface RateKey {
  key: string;
  calls: number;
  perSeconds: number;
}

export type RateTake = { ok: true } | { ok: false; retryAfterMs: number };

export type TaskSource = 'token' | 'session';
export type EndReason = 'ended' | 'expired' | 'revoked' | 'session-closed';

/** A task as stored: declared in-band (`session`), or named by a token (`token`, recorded when first seen). */
export interface TaskRow {
  id: string;
  issuer: string;
  subject: string;
  source: TaskSource;
  purpose?: string;
  /** Globs the task narrows to; undefined: not narrowed (a token task without grants). */
  grants?: readonly string[];
  /** The token task an in-band task narrows, if any. */
  parent?: string;
  /** The session it was declared on, or the 2026 handle key (issuer, subject, tenant) it is bound to. */
  session?: string;
  /** The replica (`host:pid`) that recorded it. */
  gateway: string;
  createdAt: number;
  expiresAt?: number;
  endedAt?: number;
  endReason?: EndReason;
}

/** A task's primary key: token task ids are chosen by the token's issuer, so one id may have several rows. */
export interface TaskKey {
  id: string;
  issuer: string;
  subject: string;
}

/**
 * Tasks every replica on the store finds (by id, or a 2026 task handle) and sees end. Every method throws
 * ERR_STATE_UNAVAILABLE (PostgreSQL) or the SQLite error when the store cannot be used: callers on the
 * call path refuse (fail closed).
 */
export interface SharedTasks {
  /**
   * Records a task; an existing row with the same key is left as it is. A row given with `endedAt` and
   * `endReason` is stored ended (a token task revoked by id before any replica saw it). Whether it was new.
   */
  insertTask(task: TaskRow): Promise<boolean>;
  /** Ends one open task. Whether it was still open (false: already ended, or unknown). */
  endTask(key: TaskKey, at: number, reason: EndReason): Promise<boolean>;
  /** The rows with this id (several issuers may choose one), newest first, at most `limit` (20). */
  tasksById(id: string, limit?: number): Promise<TaskRow[]>;
  /** Newest first: open and unexpired tasks, or every task with `all`; at most `limit` (1,000). */
  listTasks(options: { all: boolean; now: number; limit?: number }): Promise<TaskRow[]>;
}

/** What the approval stage needs of the approvals table: found, decided and spent alike by every replica. */
export interface SharedApprovals {
  /**
   * The open out-of-band approval for this binding, or a new pending one; none when the agent already has
   * `maxOpenPerAgent` waiting (`limited`). Serialised per agent across replicas: identical calls racing on
   * two replicas share one request.
   */
  requestApproval(
    input: ApprovalRequest,
    maxOpenPerAgent: number,
  ): Promise<{ row: ApprovalRow; created: boolean } | { limited: { count: number; firstExpiry?: number } }>;
  /** A new pending approval (the elicitation channel asks for each call). */
  createApproval(input: ApprovalRequest): Promise<ApprovalRow>;
  /**
   * Spends the oldest approved, unexpired approval for this binding: one conditional UPDATE (`approved` and
   * not yet used → `used`) returning the row, so of any number of replicas racing exactly one gets it.
   */
  consumeApproval(binding: ApprovalBinding, now: number): Promise<ApprovalRow | undefined>;
  /** Marks one approved, unexpired approval used; rejects (ERR_APPROVAL_CLOSED/NOT_FOUND) saying why not. */
  useApproval(id: string, now: number): Promise<ApprovalRow>;
  /** Pending and approved approvals past expiry become `expired`: one binding's, or the first `limit` (100). */
  expireDueApprovals(now: number, binding?: ApprovalBinding, limit?: number): Promise<ApprovalRow[]>;
  /** How many unexpired approvals one agent has waiting, and when the first expires. */
  openApprovalsFor(
    issuer: string,
    subject: string,
    now: number,
    tenant?: string,
  ): Promise<{ count: number; firstExpiry?: number }>;
  /** A person approves a pending, unexpired approval; rejects with a WardenError saying why not. */
  approveApproval(id: string, by: string, now: number): Promise<ApprovalRow>;
  denyApproval(id: string, by: string, now: number, reason?: string): Promise<ApprovalRow>;
  /** Ends a pending (or approved) approval as expired; undefined when it was no longer open. */
  expireApproval(id: string, now: number, reason?: string): Promise<ApprovalRow | undefined>;
  getApproval(id: string): Promise<ApprovalRow | undefined>;
  /** Newest first, by stored status when given, at most `limit` (200, at most 1,000). */
  listApprovals(filter?: { status?: ApprovalStatus; limit?: number; offset?: number }): Promise<ApprovalRow[]>;
}

/** The public half of one replica's signing key, as published in the store. */
export interface SigningKeyRow {
  kid: string;
  /** The public JWK (Ed25519), without `kid`, `alg` or `use`. */
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** When a newer key took over; still published while tokens signed before can be valid. */
  retiredAt?: number;
}

/**
 * The signing keys' public halves of every replica: each publishes its own at start and after a rotation,
 * and verifies tokens of the built-in issuer signed by any replica's key.
 */
export interface SharedSigningKeys {
  /**
   * Publishes these keys. A kid already published keeps its public JWK (first writer wins: a kid never
   * changes key); a retirement is recorded (never undone).
   */
  publishSigningKeys(keys: readonly SigningKeyRow[]): Promise<void>;
  /** Every published key, oldest first. */
  signingKeys(): Promise<SigningKeyRow[]>;
}

/**
 * Single-use ids every process on the store spends at most once: the rounds of 2026 multi-round-trip
 * calls (a sealed `requestState` names one), so a state spent through one replica is a replay on another.
 */
export interface SharedSpends {
  /**
   * Spends `id`, remembered until `expiresAt` (epoch ms; past it the id is refused as expired anyway):
   * true the first time, false when it was already spent. Ids expired at `now` are forgotten, a few at a time.
   */
  spendOnce(id: string, expiresAt: number, now: number): Promise<boolean>;
}

export interface SharedState extends SharedTasks, SharedApprovals, SharedSigningKeys, SharedPins, SharedSpends {
  readonly kind: 'sqlite' | 'postgres';
  revokeAgent(revocation: AgentRevocationRow): Promise<void>;
  /** Whether the id was newly revoked. */
  revokeToken(tokenId: string, at: number, reason?: string): Promise<boolean>;
  /**
   * Revokes a task id: its open rows end as `revoked`, and the id is recorded so a token naming it (or
   * delegated within it) is refused whenever it first shows up. Whether anything was newly revoked.
   */
  revokeTaskId(taskId: string, at: number): Promise<boolean>;
  revocations(now: number): Promise<RevocationSnapshot>;
  /**
   * Takes one token from every bucket, or none (atomically, across every replica on the store): when
   * any is empty nothing is consumed and the answer is how long until all have a token again.
   */
  takeRate(keys: readonly RateKey[], now: number): Promise<RateTake>;
  close(): Promise<void>;
}

/** A bucket as stored: tokens left at `updatedAt`. */
export interface BucketRow {
  tokens: number;
  updatedAt: number;
}

/**
 * The token-bucket arithmetic both stores share (pure): refills each bucket to `now` (a missing one is
 * full), then takes one from each if all have one. Returns the buckets to write back and the answer.
 */
export function takeFromBuckets(
  keys: readonly RateKey[],
  found: ReadonlyMap<string, BucketRow>,
  now: number,
): { answer: RateTake; rows: { key: string; tokens: number; updatedAt: number; fullAt: number }[] } {
  let wait = 0;
  // One bucket per key (the first limit named for it), so a key listed twice is taken from once.
  const unique = [...new Map(keys.map((k) => [k.key, k] as const)).values()];
  const refilled = unique.map((k) => {
    const fillMs = k.perSeconds * 1_000;
    const row = found.get(k.key);
    const elapsed = row ? Math.max(0, now - row.updatedAt) : 0;
    const tokens = row ? Math.min(k.calls, row.tokens + (elapsed * k.calls) / fillMs) : k.calls;
    if (tokens < 1) wait = Math.max(wait, ((1 - tokens) * fillMs) / k.calls);
    return { k, tokens, fillMs };
  });
  const ok = wait === 0;
  const rows = refilled.map(({ k, tokens, fillMs }) => {
    const left = ok ? tokens - 1 : tokens;
    return { key: k.key, tokens: left, updatedAt: now, fullAt: now + Math.ceil(((k.calls - left) * fillMs) / k.calls) };
  });
  return { answer: ok ? { ok: true } : { ok: false, retryAfterMs: Math.ceil(wait) }, rows };
}
