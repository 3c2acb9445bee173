import { WardenError } from '../../errors.js';
import { migrateTrack, trackVersion, type MigrateResult, type PgMigration } from '../../state/pg/migrate.js';
import type { PgPool } from '../../state/pg/pool.js';

/**
 * The audit log on PostgreSQL: the same tables and columns as audit.db (src/audit/migrations.ts), named
 * `audit_*` so they share a database with the state store. Versioned and append-only like the SQLite
 * migrations (a released migration is never edited), as the `audit` track of the store's one migration
 * runner (src/state/pg/migrate.ts: `warden_schema_versions`, one advisory lock for every track).
 *
 * `audit_append` is the one writer of the chain. It takes the chain head's row lock, hashes each entry
 * as SHA-256(previous hash ‖ header ‖ "\n" ‖ body), where the header is the JSON line that
 * src/audit/chain.ts `rowHeader` builds (it does not depend on the previous hash, so the client makes it
 * and the server only hashes bytes), inserts the entries and moves the head, all in one statement: a
 * group commit costs one round trip and the lock is held for the statement and its commit only.
 * `verify` recomputes every hash in Node with `entryHash`, so a server that hashed differently is caught.
 */
export const AUDIT_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE audit_entries (
        seq        bigint PRIMARY KEY,
        id         text   NOT NULL,
        kind       text   NOT NULL CHECK (kind IN ('intent', 'outcome', 'event')),
        ts         bigint NOT NULL,
        started_at bigint NOT NULL,
        instance   text   NOT NULL,
        type       text   NOT NULL,
        subject    text,
        task_id    text,
        server     text,
        target     text,
        decision   text,
        outcome    text,
        body       text   NOT NULL,
        prev_hash  text   NOT NULL,
        hash       text   NOT NULL
      );
      CREATE INDEX audit_entries_id       ON audit_entries (id, kind);
      CREATE INDEX audit_entries_hash     ON audit_entries (hash);
      CREATE INDEX audit_intents_started  ON audit_entries (started_at, seq) WHERE kind = 'intent';
      CREATE INDEX audit_intents_subject  ON audit_entries (subject, started_at, seq) WHERE kind = 'intent';
      CREATE INDEX audit_intents_task     ON audit_entries (task_id, started_at, seq) WHERE kind = 'intent';
      CREATE INDEX audit_intents_server   ON audit_entries (server, started_at, seq) WHERE kind = 'intent';
      CREATE INDEX audit_intents_target   ON audit_entries (target, started_at, seq) WHERE kind = 'intent';
      CREATE INDEX audit_intents_decision ON audit_entries (decision, started_at, seq) WHERE kind = 'intent';
      CREATE INDEX audit_outcomes_outcome ON audit_entries (outcome, started_at, seq) WHERE kind = 'outcome';
      CREATE INDEX audit_events_type      ON audit_entries (type, ts) WHERE kind = 'event';

      CREATE TABLE audit_chain_head (
        id   integer PRIMARY KEY CHECK (id = 1),
        seq  bigint  NOT NULL,
        hash text    NOT NULL
      );
      INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

      CREATE TABLE audit_checkpoints (
        id       bigserial PRIMARY KEY,
        seq      bigint NOT NULL,
        hash     text   NOT NULL,
        count    bigint NOT NULL,
        ts       bigint NOT NULL,
        kid      text   NOT NULL,
        instance text   NOT NULL,
        prev_sig text,
        jws      text   NOT NULL
      );

      CREATE TABLE audit_anchors (
        seq    bigint PRIMARY KEY,
        hash   text   NOT NULL,
        ts     bigint NOT NULL,
        rows   bigint NOT NULL,
        before bigint NOT NULL
      );

      -- Replicas: each gateway process is one instance; last_seen (the database's clock) is its heartbeat.
      CREATE TABLE audit_instances (
        id         text    PRIMARY KEY,
        host       text    NOT NULL,
        pid        integer NOT NULL,
        started_at bigint  NOT NULL,
        stopped_at bigint,
        ended      text,
        last_seen  timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE audit_open_intents (
        id       text   PRIMARY KEY,
        instance text   NOT NULL,
        seq      bigint NOT NULL
      );

      -- The public halves of the keys that signed checkpoints, published by each replica at start.
      CREATE TABLE audit_keys (
        kid      text   PRIMARY KEY,
        jwk      text   NOT NULL,
        instance text   NOT NULL,
        added_at bigint NOT NULL
      );

      CREATE FUNCTION audit_append(
        p_instance text, p_roles text[], p_ids text[], p_kinds text[], p_ts bigint[], p_started bigint[],
        p_instances text[], p_types text[], p_subjects text[], p_tasks text[], p_servers text[],
        p_targets text[], p_decisions text[], p_outcomes text[], p_headers text[], p_bodies text[]
      ) RETURNS TABLE (first_seq bigint, last_checkpoint bigint) LANGUAGE plpgsql AS $fn$
      DECLARE
        head_seq  bigint;
        head_hash bytea;
        n         integer := cardinality(p_ids);
        prevs     text[] := array_fill(NULL::text, ARRAY[n]);
        hashes    text[] := array_fill(NULL::text, ARRAY[n]);
      BEGIN
        SELECT h.seq, decode(h.hash, 'hex') INTO head_seq, head_hash FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE;
        FOR i IN 1..n LOOP
          prevs[i] := encode(head_hash, 'hex');
          head_hash := sha256(head_hash || convert_to(p_headers[i] || E'\\n' || p_bodies[i], 'UTF8'));
          hashes[i] := encode(head_hash, 'hex');
        END LOOP;
        INSERT INTO audit_entries (seq, id, kind, ts, started_at, instance, type, subject, task_id, server,
                                   target, decision, outcome, body, prev_hash, hash)
          SELECT head_seq + u.o, u.id, u.kind, u.ts, u.started_at, u.instance, u.type, u.subject, u.task_id,
                 u.server, u.target, u.decision, u.outcome, u.body, u.prev_hash, u.hash
          FROM unnest(p_ids, p_kinds, p_ts, p_started, p_instances, p_types, p_subjects, p_tasks, p_servers,
                      p_targets, p_decisions, p_outcomes, p_bodies, prevs, hashes)
               WITH ORDINALITY AS u(id, kind, ts, started_at, instance, type, subject, task_id, server, target,
                                    decision, outcome, body, prev_hash, hash, o);
        UPDATE audit_chain_head SET seq = head_seq + n, hash = encode(head_hash, 'hex') WHERE id = 1;
        INSERT INTO audit_open_intents (id, instance, seq)
          SELECT u.id, p_instance, head_seq + u.o FROM unnest(p_ids, p_roles) WITH ORDINALITY AS u(id, role, o)
          WHERE u.role = 'intent'
          ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, seq = excluded.seq;
        DELETE FROM audit_open_intents WHERE id IN (
          SELECT u.id FROM unnest(p_ids, p_roles) AS u(id, role) WHERE u.role = 'outcome');
        RETURN QUERY SELECT head_seq + 1,
          COALESCE((SELECT c.seq FROM audit_checkpoints c ORDER BY c.id DESC LIMIT 1), 0::bigint);
      END
      $fn$;
    `,
  },
  {
    version: 2,
    sql: `
      -- Each intent paid one more index insert for verify's few link lookups; verify now finds them in one scan.
      DROP INDEX IF EXISTS audit_entries_hash;
      -- Arrays filled from empty: assigning into array_fill's result copied the array each time
      -- (1,000 entries: about 50 ms of the append instead of 2).
      CREATE OR REPLACE FUNCTION audit_append(
        p_instance text, p_roles text[], p_ids text[], p_kinds text[], p_ts bigint[], p_started bigint[],
        p_instances text[], p_types text[], p_subjects text[], p_tasks text[], p_servers text[],
        p_targets text[], p_decisions text[], p_outcomes text[], p_headers text[], p_bodies text[]
      ) RETURNS TABLE (first_seq bigint, last_checkpoint bigint) LANGUAGE plpgsql AS $fn$
      DECLARE
        head_seq  bigint;
        head_hash bytea;
        n         integer := cardinality(p_ids);
        prevs     text[] := '{}';
        hashes    text[] := '{}';
      BEGIN
        SELECT h.seq, decode(h.hash, 'hex') INTO head_seq, head_hash FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE;
        FOR i IN 1..n LOOP
          prevs[i] := encode(head_hash, 'hex');
          head_hash := sha256(head_hash || convert_to(p_headers[i] || E'\\n' || p_bodies[i], 'UTF8'));
          hashes[i] := encode(head_hash, 'hex');
        END LOOP;
        INSERT INTO audit_entries (seq, id, kind, ts, started_at, instance, type, subject, task_id, server,
                                   target, decision, outcome, body, prev_hash, hash)
          SELECT head_seq + u.o, u.id, u.kind, u.ts, u.started_at, u.instance, u.type, u.subject, u.task_id,
                 u.server, u.target, u.decision, u.outcome, u.body, u.prev_hash, u.hash
          FROM unnest(p_ids, p_kinds, p_ts, p_started, p_instances, p_types, p_subjects, p_tasks, p_servers,
                      p_targets, p_decisions, p_outcomes, p_bodies, prevs, hashes)
               WITH ORDINALITY AS u(id, kind, ts, started_at, instance, type, subject, task_id, server, target,
                                    decision, outcome, body, prev_hash, hash, o);
        UPDATE audit_chain_head SET seq = head_seq + n, hash = encode(head_hash, 'hex') WHERE id = 1;
        INSERT INTO audit_open_intents (id, instance, seq)
          SELECT u.id, p_instance, head_seq + u.o FROM unnest(p_ids, p_roles) WITH ORDINALITY AS u(id, role, o)
          WHERE u.role = 'intent'
          ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, seq = excluded.seq;
        DELETE FROM audit_open_intents WHERE id IN (
          SELECT u.id FROM unnest(p_ids, p_roles) AS u(id, role) WHERE u.role = 'outcome');
        RETURN QUERY SELECT head_seq + 1,
          COALESCE((SELECT c.seq FROM audit_checkpoints c ORDER BY c.id DESC LIMIT 1), 0::bigint);
      END
      $fn$;
    `,
  },
  {
    version: 3,
    sql: `
      -- As SQLite's schema 5: refused intents and outcomes other than ok are the only rows of the decision
      -- and outcome indexes, so an allowed call ending ok writes two index entries fewer. A query filtering
      -- on deny or on a failed outcome restates the condition (src/audit/queries.ts).
      DROP INDEX IF EXISTS audit_intents_decision;
      DROP INDEX IF EXISTS audit_outcomes_outcome;
      CREATE INDEX audit_intents_refused ON audit_entries (decision, started_at, seq)
        WHERE kind = 'intent' AND decision <> 'allow';
      CREATE INDEX audit_outcomes_failed ON audit_entries (outcome, started_at, seq)
        WHERE kind = 'outcome' AND outcome <> 'ok';
      -- Hashes computed by the writer: a replica that knows the chain's end (its own last commit, with no
      -- other replica's in between) sends each entry's hash and the head it chained them from; under the
      -- head's lock the function takes them when that head is still the chain's end, and otherwise hashes
      -- the entries itself as before. The per-entry loop was about half of a 500-entry append's time.
      -- Headers and bodies arrive as one text each, joined by newlines (JSON never holds a raw one): PostgreSQL
      -- splits that several times faster than it parses a text[] of escaped JSON.
      -- The version 2 function stays for replicas of the previous version still running.
      CREATE FUNCTION audit_append(
        p_instance text, p_head_seq bigint, p_head_hash text, p_hashes text[], p_roles text[], p_ids text[],
        p_kinds text[], p_ts bigint[], p_started bigint[], p_instances text[], p_types text[], p_subjects text[],
        p_tasks text[], p_servers text[], p_targets text[], p_decisions text[], p_outcomes text[],
        p_headers text, p_bodies text
      ) RETURNS TABLE (first_seq bigint, last_checkpoint bigint, head_hash text) LANGUAGE plpgsql AS $fn$
      DECLARE
        head_seq bigint;
        head     text;
        n        integer := cardinality(p_ids);
        chained  bytea;
        prevs    text[] := '{}';
        hashes   text[] := '{}';
        headers  text[];
        bodies   text[] := string_to_array(p_bodies, E'\\n');
      BEGIN
        IF coalesce(cardinality(bodies), 0) <> n THEN
          RAISE EXCEPTION 'audit_append: % bodies for % entries', coalesce(cardinality(bodies), 0), n;
        END IF;
        SELECT h.seq, h.hash INTO head_seq, head FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE;
        IF p_head_seq IS NOT NULL AND p_head_seq = head_seq AND p_head_hash = head AND cardinality(p_hashes) = n THEN
          hashes := p_hashes;
          prevs := array_prepend(head, p_hashes[1:n - 1]);
        ELSE
          chained := decode(head, 'hex');
          headers := string_to_array(p_headers, E'\\n');
          FOR i IN 1..n LOOP
            prevs[i] := encode(chained, 'hex');
            chained := sha256(chained || convert_to(headers[i] || E'\\n' || bodies[i], 'UTF8'));
            hashes[i] := encode(chained, 'hex');
          END LOOP;
        END IF;
        INSERT INTO audit_entries (seq, id, kind, ts, started_at, instance, type, subject, task_id, server,
                                   target, decision, outcome, body, prev_hash, hash)
          SELECT head_seq + u.o, u.id, u.kind, u.ts, u.started_at, u.instance, u.type, u.subject, u.task_id,
                 u.server, u.target, u.decision, u.outcome, u.body, u.prev_hash, u.hash
          FROM unnest(p_ids, p_kinds, p_ts, p_started, p_instances, p_types, p_subjects, p_tasks, p_servers,
                      p_targets, p_decisions, p_outcomes, bodies, prevs, hashes)
               WITH ORDINALITY AS u(id, kind, ts, started_at, instance, type, subject, task_id, server, target,
                                    decision, outcome, body, prev_hash, hash, o);
        UPDATE audit_chain_head SET seq = head_seq + n, hash = COALESCE(hashes[n], head) WHERE id = 1;
        INSERT INTO audit_open_intents (id, instance, seq)
          SELECT u.id, p_instance, head_seq + u.o FROM unnest(p_ids, p_roles) WITH ORDINALITY AS u(id, role, o)
          WHERE u.role = 'intent'
          ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, seq = excluded.seq;
        DELETE FROM audit_open_intents WHERE id IN (
          SELECT u.id FROM unnest(p_ids, p_roles) AS u(id, role) WHERE u.role = 'outcome');
        RETURN QUERY SELECT head_seq + 1,
          COALESCE((SELECT c.seq FROM audit_checkpoints c ORDER BY c.id DESC LIMIT 1), 0::bigint),
          COALESCE(hashes[n], head);
      END
      $fn$;
    `,
  },
];

export const PG_SCHEMA_VERSION = AUDIT_MIGRATIONS.at(-1)!.version;

/**
 * Brings the audit tables up to date (the `audit` track, under the migrations' advisory lock: replicas
 * starting together migrate once); refuses a schema written by a newer version and a database whose
 * encoding is not UTF-8 (the chain hashes UTF-8 bytes on the server).
 */
export async function migrateAudit(pool: PgPool): Promise<MigrateResult> {
  const encoding = (await pool.query<{ server_encoding: string }>('SHOW server_encoding')).rows[0]?.server_encoding;
  if (encoding !== 'UTF8')
    throw new WardenError('ERR_AUDIT_INVALID', `the database's encoding is ${encoding}; the audit log needs UTF8`);
  return migrateTrack(pool, 'audit', AUDIT_MIGRATIONS);
}

/** For reviewer commands: the schema must already be the one this version reads. */
export async function checkPgSchema(pool: PgPool): Promise<void> {
  const version = await trackVersion(pool, 'audit');
  if (version === 0)
    throw new WardenError('ERR_AUDIT_INVALID', 'no audit log in this database (no gateway has written to it yet)');
  if (version !== PG_SCHEMA_VERSION)
    throw new WardenError(
      'ERR_AUDIT_INVALID',
      `audit schema version ${version}; this mcp-warden reads version ${PG_SCHEMA_VERSION} (run "mcp-warden store migrate")`,
    );
}
