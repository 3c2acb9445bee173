import type { PgMigration } from './migrate.js';

/** The channel every change to shared state is announced on (payload: the table's name). */
export const STATE_CHANNEL = 'mcp_warden_state';

/**
 * Shared state on PostgreSQL: the tables of state.db (src/state/db.ts) with the same columns, plus the
 * rate-limit buckets and the signing keys' public halves that SQLite keeps per process or per folder.
 * Times are epoch milliseconds (bigint). Every write to a table announces itself on STATE_CHANNEL
 * (a statement trigger), so a change made by any replica or by the CLI reaches every replica's LISTEN.
 */
export const STATE_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE tasks (
        id         text   NOT NULL,
        issuer     text   NOT NULL,
        subject    text   NOT NULL,
        source     text   NOT NULL CHECK (source IN ('token', 'session')),
        purpose    text,
        grants     text,
        parent     text,
        session    text,
        gateway    text   NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint,
        ended_at   bigint,
        end_reason text,
        PRIMARY KEY (id, issuer, subject)
      );
      CREATE INDEX tasks_open ON tasks (ended_at, expires_at);
      CREATE INDEX tasks_subject ON tasks (subject);
      CREATE TABLE agent_revocations (
        subject    text   NOT NULL,
        issuer     text   NOT NULL,
        revoked_at bigint NOT NULL,
        reason     text,
        PRIMARY KEY (subject, issuer)
      );
      CREATE TABLE token_revocations (
        token_id   text   PRIMARY KEY,
        revoked_at bigint NOT NULL,
        reason     text
      );
      CREATE TABLE task_revocations (
        task_id    text   PRIMARY KEY,
        revoked_at bigint NOT NULL
      );
      CREATE TABLE definition_pins (
        server             text   NOT NULL,
        kind               text   NOT NULL CHECK (kind IN ('tool', 'prompt')),
        name               text   NOT NULL,
        exposed            text   NOT NULL,
        status             text   NOT NULL CHECK (status IN ('pinned', 'quarantined', 'pending', 'rejected')),
        pinned_hash        text,
        pinned_definition  text,
        current_hash       text   NOT NULL,
        current_definition text   NOT NULL,
        flags              text   NOT NULL DEFAULT '[]',
        first_seen_at      bigint NOT NULL,
        updated_at         bigint NOT NULL,
        decided_at         bigint,
        decided_by         text,
        PRIMARY KEY (server, kind, name)
      );
      CREATE INDEX definition_pins_exposed ON definition_pins (exposed);
      CREATE INDEX definition_pins_status ON definition_pins (status);
      CREATE TABLE approvals (
        id               text   PRIMARY KEY,
        binding          text   NOT NULL,
        status           text   NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'expired')),
        channel          text   NOT NULL CHECK (channel IN ('elicitation', 'out-of-band')),
        issuer           text   NOT NULL,
        subject          text   NOT NULL,
        tenant           text,
        task_id          text,
        server           text   NOT NULL,
        tool             text   NOT NULL,
        definition_hash  text   NOT NULL,
        arguments_digest text   NOT NULL,
        summary          text   NOT NULL,
        call_id          text,
        created_at       bigint NOT NULL,
        expires_at       bigint NOT NULL,
        decided_at       bigint,
        decided_by       text,
        reason           text,
        used_at          bigint
      );
      CREATE INDEX approvals_binding ON approvals (binding, status);
      CREATE INDEX approvals_open ON approvals (status, expires_at);
      CREATE TABLE console_login_codes (
        digest     text   PRIMARY KEY,
        subject    text   NOT NULL,
        issuer     text,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        used_at    bigint
      );
      CREATE TABLE console_sessions (
        digest      text   PRIMARY KEY,
        subject     text   NOT NULL,
        issuer      text,
        csrf_digest text,
        created_at  bigint NOT NULL,
        expires_at  bigint NOT NULL,
        ended_at    bigint
      );
      CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
      -- Token buckets shared by every replica: a limit of N per minute is N in total.
      CREATE TABLE rate_buckets (
        key        text             PRIMARY KEY,
        tokens     double precision NOT NULL,
        updated_at bigint           NOT NULL,
        full_at    bigint           NOT NULL
      );
      CREATE INDEX rate_buckets_full ON rate_buckets (full_at);
      -- Public halves of every replica's signing keys: any replica verifies any replica's tokens.
      CREATE TABLE signing_keys (
        kid        text   PRIMARY KEY,
        public_jwk text   NOT NULL,
        created_at bigint NOT NULL,
        retired_at bigint
      );

      CREATE FUNCTION warden_state_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        PERFORM pg_notify('${STATE_CHANNEL}', TG_TABLE_NAME);
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OR DELETE ON tasks
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER agent_revocations_notify AFTER INSERT OR UPDATE OR DELETE ON agent_revocations
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER token_revocations_notify AFTER INSERT OR UPDATE OR DELETE ON token_revocations
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER task_revocations_notify AFTER INSERT OR UPDATE OR DELETE ON task_revocations
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER definition_pins_notify AFTER INSERT OR UPDATE OR DELETE ON definition_pins
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER approvals_notify AFTER INSERT OR UPDATE OR DELETE ON approvals
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER console_sessions_notify AFTER INSERT OR UPDATE OR DELETE ON console_sessions
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
      CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON signing_keys
        FOR EACH STATEMENT EXECUTE FUNCTION warden_state_notify();
    `,
  },
  {
    version: 2,
    // Tasks are written on every first sight of a token task and on every begin and end; only a revoked
    // one changes the revocation snapshot every replica caches, so only that is announced (duplicates in
    // one transaction are folded into one notification by PostgreSQL).
    sql: `
      DROP TRIGGER tasks_notify ON tasks;
      CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE ON tasks
        FOR EACH ROW WHEN (NEW.end_reason = 'revoked') EXECUTE FUNCTION warden_state_notify();
    `,
  },
  {
    version: 3,
    // Spent single-use ids (the rounds of 2026 multi-round-trip calls): one replica's spend is a replay on
    // every other. Read only by the conditional insert that spends one: not announced.
    sql: `
      CREATE TABLE spent_states (
        id         text   PRIMARY KEY,
        expires_at bigint NOT NULL
      );
      CREATE INDEX spent_states_expiry ON spent_states (expires_at);
    `,
  },
];
