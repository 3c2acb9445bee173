// What a test only needs to read or get from a gateway's data folder (a token of the built-in issuer,
// audit events and records, one record in full, a stored approval, the tool pins), done in this process
// with the modules the CLI itself runs. Each spawned CLI costs a Node start and a module load; tests of
// the CLI still spawn it.
import { jwtSetup } from '../../src/cli/identity.js';
import { loadConfig } from '../../src/config/load.js';
import { eventObject, recordObject } from '../../src/audit/export.js';
import {
  getRecord,
  listEvents,
  listRecords,
  summaryOf,
  type EventFilter,
  type RecordFilter,
  type RecordSummary,
} from '../../src/audit/queries.js';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { issueToken, type IssueRequest } from '../../src/identity/issue.js';
import { ApprovalStore, effectiveStatus } from '../../src/integrity/approvals.js';
import { PinStore } from '../../src/integrity/pins.js';
import type { ApprovalRow, PinStatus } from '../../src/integrity/types.js';
import { stateFile } from '../../src/state/db.js';

/** The data folder a config names, resolved as the gateway and the CLI resolve it. */
export function dataDirOf(configFile: string): string {
  return loadConfig(configFile).dataDir;
}

/**
 * A token of the config's built-in issuer, as `mcp-warden token issue` signs it (same claims, same
 * delegation checks for `parent`). The gateway must have started once: it creates the signing key.
 */
export async function issueTokenInProcess(
  configFile: string,
  request: Omit<IssueRequest, 'ttlSeconds'> & { ttlSeconds?: number },
): Promise<string> {
  const loaded = loadConfig(configFile);
  const setup = jwtSetup(loaded);
  const builtin = setup?.auth.builtin;
  if (!setup || !builtin) throw new Error(`${configFile}: auth.mode must be "jwt" with a "builtin" issuer`);
  if (!setup.keys.exists()) throw new Error(`no signing key in ${loaded.dataDir} yet: start the gateway first`);
  const { token } = await issueToken(
    setup.keys,
    { issuer: builtin.issuer, audience: setup.resource, maxLifetimeSeconds: setup.auth.maxTokenLifetimeSeconds },
    { ttlSeconds: builtin.defaultTtlSeconds, ...request },
    setup.verifier,
    Date.now(),
  );
  return token;
}

/** Audit events, newest first, in the shape `audit list --events --json` prints. */
export function auditEvents(configFile: string, filter: EventFilter): Record<string, unknown>[] {
  const db = openAuditDb(auditFile(dataDirOf(configFile)), { readonly: true });
  try {
    return JSON.parse(JSON.stringify(listEvents(db, { limit: 1000, ...filter }).map(eventObject))) as Record<
      string,
      unknown
    >[];
  } finally {
    db.close();
  }
}

/** Audit records, newest first, as `audit list --json` prints them. */
export function auditRecords(configFile: string, filter: RecordFilter): RecordSummary[] {
  const db = openAuditDb(auditFile(dataDirOf(configFile)), { readonly: true });
  try {
    return JSON.parse(JSON.stringify(listRecords(db, { limit: 1000, ...filter }))) as RecordSummary[];
  } finally {
    db.close();
  }
}

/** One record in full (intent, outcome, relays) or one event, as `audit show ID --json` prints it. */
export function auditShow(configFile: string, id: string): Record<string, unknown> {
  const db = openAuditDb(auditFile(dataDirOf(configFile)), { readonly: true });
  try {
    const detail = getRecord(db, id.toUpperCase());
    if (!detail) throw new Error(`no record or event with id ${id}`);
    const shown =
      'event' in detail
        ? eventObject(detail.event)
        : {
            ...recordObject(summaryOf(detail.intent, detail.outcome), detail.intent, detail.outcome),
            relays: detail.relays,
          };
    return JSON.parse(JSON.stringify(shown)) as Record<string, unknown>;
  } finally {
    db.close();
  }
}

/** One stored approval with its status now, as `approvals show ID --json` prints it. */
export function storedApproval(configFile: string, id: string): Record<string, unknown> | undefined {
  const store = ApprovalStore.open(stateFile(dataDirOf(configFile)), { readonly: true });
  try {
    const row: ApprovalRow | undefined = store.get(id);
    if (!row) return undefined;
    return { ...row, status: effectiveStatus(row, Date.now()), storedStatus: row.status };
  } finally {
    store.close();
  }
}

/** The recorded tool and prompt definitions, as `tools list --json` prints them (definitions left out). */
export function storedPins(
  configFile: string,
  filter: { status?: PinStatus; server?: string } = {},
): Record<string, unknown>[] {
  const store = PinStore.open(stateFile(dataDirOf(configFile)), { readonly: true });
  try {
    const rows = store.list(filter).map(({ pinnedDefinition: _p, currentDefinition: _c, ...row }) => row);
    return JSON.parse(JSON.stringify(rows)) as Record<string, unknown>[];
  } finally {
    store.close();
  }
}
