import type { Aggregate, CatalogSource, ListKind } from '../model/catalog.js';
import type { Logger } from 'pino';
import type { AuditEvent, Scrubber } from '../pipeline/stages.js';
import { definitionFlags } from './flags.js';
import { pinnedParts } from './hash.js';
import type { PinBackend } from './pin-backend.js';
import type { Observation, PinState, ServerPinning } from './pins.js';
import type { DefinitionKind, PinStatus } from './types.js';

const POLL_MS = 1_000;

/** Why a definition is quarantined: it differs from the approved one, or it was flagged on first sight and never approved. */
export type QuarantineCause = 'changed' | 'flagged';
export type PinVerdict =
  | { ok: true }
  | { ok: false; status: Exclude<PinStatus, 'pinned'> | 'unrecorded'; cause?: QuarantineCause; reason: string };

/**
 * The gateway-wide view of definition pins. It observes every catalog the gateway sees (the start-up
 * probe, each session's merged view), writes to the store only when something is new, and answers
 * "may this tool or prompt be shown or called" from an in-memory copy that is re-read whenever another
 * process (a reviewer's `tools approve`, another gateway or replica) committed: on state.db checked with
 * `PRAGMA data_version` before a verdict, on PostgreSQL announced by NOTIFY (and polled).
 */
export class PinRegistry {
  private version = Number.NaN;
  /** Counts the reloads of the pins' in-memory copy: any pin, quarantine or approval gives a new number. */
  generation = 0;
  private byKey = new Map<string, PinState>();
  private byExposed = new Map<string, PinState>();
  private signature: Record<'tools' | 'prompts', string> = { tools: '', prompts: '' };
  private lastSync = Number.NaN;
  private failing = false;
  private loadedOnce = false;
  private poller: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(kinds: ListKind[]) => void>();

  constructor(
    private readonly store: PinBackend,
    private readonly pinningOf: (server: string) => ServerPinning,
    private readonly logger: Logger,
    /** Appends an event to the audit log (the sink's `event`). */
    private readonly record: (event: AuditEvent) => Promise<unknown>,
    /** The egress stage: a definition is stored (state.db, `tools diff`, the console) only as the agent may see it. */
    private readonly egress: Pick<Scrubber, 'scrubValue'>,
    private readonly now: () => number = Date.now,
  ) {
    this.sync(this.now());
  }

  /**
   * Reads the pins a first time when the store answers asynchronously (a failure stops the start);
   * nothing to do on state.db, read when constructed.
   */
  async load(): Promise<void> {
    if (this.store.dataVersion) return;
    this.apply(await this.store.statuses());
  }

  /** Re-reads the pins if another process committed since the last look; at most once per `now` value. */
  sync(now: number): void {
    if (!this.store.dataVersion || now === this.lastSync) return;
    this.lastSync = now;
    let version: number;
    try {
      version = this.store.dataVersion();
    } catch (error) {
      if (!this.failing)
        this.logger.error(
          { err: (error as Error).message, store: this.store.where },
          'pin database unreadable; keeping the last known pins',
        );
      this.failing = true;
      return;
    }
    this.failing = false;
    if (version === this.version) return;
    this.version = version;
    this.reload();
  }

  /**
   * Records what a session or the start-up probe sees. Only definitions that differ from the cached
   * state reach the database; the events they cause go to the audit log and the gateway's log.
   */
  observe(view: Aggregate, sources: readonly CatalogSource[]): void | Promise<void> {
    this.sync(this.now());
    const observations: Observation[] = [];
    const consider = (
      kind: DefinitionKind,
      exposed: string,
      route: { server: string; downstreamName: string; definitionHash: string },
    ) => {
      if (this.pinningOf(route.server).mode === 'off') return;
      const known = this.byKey.get(keyOf(route.server, kind, route.downstreamName));
      if (
        known &&
        known.exposed === exposed &&
        (known.currentHash === route.definitionHash ||
          (known.status === 'quarantined' && known.pinnedHash === route.definitionHash))
      )
        return;
      const source = sources.find((s) => s.serverId === route.server);
      const items: readonly { name: string }[] =
        (kind === 'tool' ? source?.catalog.tools : source?.catalog.prompts) ?? [];
      const raw = items.find((item) => item.name === route.downstreamName) as Record<string, unknown> | undefined;
      if (!raw) return;
      let definition: unknown;
      let flags: ReturnType<typeof definitionFlags>;
      try {
        definition = this.egress.scrubValue(pinnedParts(kind, raw));
        flags = this.egress.scrubValue(definitionFlags(kind, raw));
      } catch {
        return; // too deep to scrub: not recorded, so not approved (hidden and refused)
      }
      observations.push({
        server: route.server,
        kind,
        name: route.downstreamName,
        exposed,
        hash: route.definitionHash,
        definition,
        flags,
      });
    };
    for (const [exposed, route] of view.tools) consider('tool', exposed, route);
    for (const [exposed, route] of view.prompts) consider('prompt', exposed, route);
    if (observations.length === 0) return;
    // Not recorded means not approved: those definitions stay hidden and refused until a later look succeeds.
    const failed = (error: unknown) =>
      this.logger.error(
        { err: (error as Error).message, store: this.store.where },
        'could not record tool definitions; new and changed ones stay unavailable',
      );
    let events: readonly AuditEvent[] | Promise<readonly AuditEvent[]>;
    try {
      events = this.store.observe(observations, this.pinningOf, this.now());
    } catch (error) {
      return failed(error);
    }
    if (!(events instanceof Promise)) {
      this.reload();
      for (const event of events) this.report(event);
      return;
    }
    return events.then(async (recorded) => {
      await this.reloadAsync();
      for (const event of recorded) this.report(event);
    }, failed);
  }

  /**
   * Whether a definition may be shown or called: its server does not pin, or its row is pinned and (when
   * the caller knows the hash it would use) that hash is the pinned one.
   */
  verdict(server: string, kind: DefinitionKind, exposed: string, hash: string | undefined, now: number): PinVerdict {
    if (this.pinningOf(server).mode === 'off') return { ok: true };
    this.sync(now);
    const state = this.byExposed.get(`${kind}\u0000${exposed}`);
    if (!state || state.server !== server)
      return { ok: false, status: 'unrecorded', reason: `${kind} definition not recorded yet` };
    if (state.status === 'pinned' && (hash === undefined || hash === state.pinnedHash)) return { ok: true };
    if (state.status === 'pinned')
      return {
        ok: false,
        status: 'quarantined',
        cause: 'changed',
        reason: `definition ${hash} is not the pinned ${state.pinnedHash}`,
      };
    const reason = `${kind} is ${state.status} (current definition ${state.currentHash}, pinned ${state.pinnedHash ?? 'none'})`;
    if (state.status !== 'quarantined') return { ok: false, status: state.status, reason };
    // Never approved: quarantined when first seen because its text was flagged (quarantineFlagged).
    return state.pinnedHash === undefined
      ? { ok: false, status: 'quarantined', cause: 'flagged', reason: `${reason}; flagged when first seen` }
      : { ok: false, status: 'quarantined', cause: 'changed', reason };
  }

  /**
   * Tells sessions (list_changed) when another process changes what may be shown: state.db is looked at
   * every `intervalMs` (unref'd); the shared store is followed (NOTIFY, resync, polling).
   */
  startPolling(intervalMs = POLL_MS): void {
    if (this.store.follow) return this.store.follow(() => this.reloadAsync());
    this.poller = setInterval(() => this.sync(this.now()), intervalMs);
    this.poller.unref();
  }

  /** Called with the lists (`tools`, `prompts`) whose visible items may have changed. */
  onChange(listener: (kinds: ListKind[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
    this.store.close();
  }

  /** Re-reads state.db's pins (synchronous). */
  private reload(): void {
    try {
      this.apply(this.store.statuses() as PinState[]);
    } catch (error) {
      this.unreadable(error);
    }
  }

  /** Re-reads the shared store's pins; a failure keeps the last known ones (and is logged). */
  private async reloadAsync(): Promise<void> {
    try {
      this.apply(await this.store.statuses());
    } catch (error) {
      this.unreadable(error);
    }
  }

  private unreadable(error: unknown): void {
    this.logger.error(
      { err: (error as Error).message, store: this.store.where },
      'pin database unreadable; keeping the last known pins',
    );
  }

  private apply(rows: readonly PinState[]): void {
    const byKey = new Map<string, PinState>();
    const byExposed = new Map<string, PinState>();
    const parts: Record<'tools' | 'prompts', string[]> = { tools: [], prompts: [] };
    for (const row of rows) {
      byKey.set(keyOf(row.server, row.kind, row.name), row);
      byExposed.set(`${row.kind}\u0000${row.exposed}`, row);
      parts[row.kind === 'tool' ? 'tools' : 'prompts'].push(
        `${row.server}/${row.name}/${row.exposed}/${row.status}/${row.pinnedHash ?? ''}`,
      );
    }
    const next = { tools: parts.tools.sort().join('\n'), prompts: parts.prompts.sort().join('\n') };
    const changed: ListKind[] = [];
    if (next.tools !== this.signature.tools) changed.push('tools');
    if (next.prompts !== this.signature.prompts) changed.push('prompts');
    const first = !this.loadedOnce;
    this.loadedOnce = true;
    this.byKey = byKey;
    this.byExposed = byExposed;
    this.generation += 1;
    this.signature = next;
    if (changed.length > 0 && !first) setImmediate(() => this.emit(changed));
  }

  private report(event: AuditEvent): void {
    const data = event.data ?? {};
    const fields = {
      server: event.server,
      [String(data.kind)]: event.target,
      hash: data.hash,
      previousHash: data.previousHash,
      status: data.status,
      flags: data.flags,
    };
    if (event.type === 'tool.pin') this.logger.debug(fields, 'definition pinned (trust on first use)');
    else if (event.type === 'tool.quarantine' && data.status === 'pending')
      this.logger.warn(fields, `new definition waits for approval: mcp-warden tools diff ${event.target ?? ''}`);
    else if (event.type === 'tool.quarantine')
      this.logger.warn(
        fields,
        `definition quarantined until a reviewer approves it: mcp-warden tools diff ${event.target ?? ''}`,
      );
    else this.logger.info(fields, 'definition changed');
    this.record(event).catch((error: unknown) =>
      this.logger.error(
        { err: (error as Error).message, type: event.type },
        'could not record a pin event in the audit log',
      ),
    );
  }

  private emit(kinds: ListKind[]): void {
    for (const listener of this.listeners) {
      try {
        listener(kinds);
      } catch (error) {
        this.logger.error({ err: (error as Error).message }, 'pin change listener failed');
      }
    }
  }
}

function keyOf(server: string, kind: DefinitionKind, name: string): string {
  return `${server}\u0000${kind}\u0000${name}`;
}
