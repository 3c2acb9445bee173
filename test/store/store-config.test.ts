// The `store` section of mcp.config.json: SQLite by default, PostgreSQL validated with the field named.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';

function parse(store: unknown, env: NodeJS.ProcessEnv = {}) {
  return parseConfigText(
    JSON.stringify({ version: 1, servers: {}, ...(store !== undefined && { store }) }),
    'x.json',
    env,
  );
}

describe('config: store', () => {
  it('defaults to SQLite in the data folder', () => {
    expect(parse(undefined).store).toEqual({ kind: 'sqlite' });
  });

  it('reads the PostgreSQL URL from the environment, with defaults for the pool and deadlines', () => {
    const store = parse(
      { kind: 'postgres', url: '${MCP_WARDEN_PG_URL}' },
      { MCP_WARDEN_PG_URL: 'postgres://warden@db.internal:5432/warden' },
    ).store;
    expect(store).toEqual({
      kind: 'postgres',
      url: 'postgres://warden@db.internal:5432/warden',
      poolSize: 10,
      statementTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
    });
  });

  it.each([
    [{ kind: 'pg' }, /store\.kind: .*sqlite.*postgres/],
    [{ kind: 'postgres' }, /store\.url/],
    [{ kind: 'postgres', url: 'mysql://u@h/db' }, /store\.url: must be a postgres:\/\/ URL, not mysql:\/\//],
    [{ kind: 'postgres', url: 'postgres://u@h' }, /store\.url: must name a database/],
    [{ kind: 'postgres', url: 'not a url' }, /store\.url: must be a postgres:\/\/ URL/],
    [{ kind: 'postgres', url: 'postgres://u@h/db', poolSize: 1 }, /store\.poolSize/],
    [
      { kind: 'postgres', url: 'postgres://u@h/db', schema: 'Bad-Name' },
      /store\.schema: must be a lower-case SQL identifier/,
    ],
    [{ kind: 'postgres', url: 'postgres://u@h/db', tls: { ca: 'x' } }, /store\.tls/],
    [{ kind: 'sqlite', url: 'postgres://u@h/db' }, /store/],
  ])('refuses %j naming the field', (store, message) => {
    expect(() => parse(store)).toThrow(message);
  });

  it('accepts the reviewer console on a PostgreSQL store (it reads and writes the store)', () => {
    const text = JSON.stringify({
      version: 1,
      servers: {},
      store: { kind: 'postgres', url: 'postgres://u@h/db' },
      console: { enabled: true },
    });
    expect(parseConfigText(text, 'x.json', {}).console.enabled).toBe(true);
  });

  it('never repeats a password from a URL it refuses', () => {
    expect(() => parse({ kind: 'postgres', url: 'postgres://u:hunter2@h' })).toThrow(/must name a database/);
    try {
      parse({ kind: 'postgres', url: 'postgres://u:hunter2@h' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('names the missing variable when the URL is ${MCP_WARDEN_PG_URL} and it is unset', () => {
    expect(() => parse({ kind: 'postgres', url: '${MCP_WARDEN_PG_URL}' })).toThrow(
      /store\.url: environment variable MCP_WARDEN_PG_URL is not set/,
    );
  });
});
