import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ProgressNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientCapabilities,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { ListKind } from '../model/catalog.js';
import type { RelayLink } from './forward.js';
import type { DownstreamClient } from './modern-client.js';

/** Who a connection reports to: the agent session that owns it, or every session using a shared one. */
export interface ConnectionListener {
  /** The connection's lists changed (after a re-list or a restart). */
  catalogChanged(serverId: string, kinds: readonly ListKind[]): void;
  /** A downstream notification with no better destination (log messages, resource updates). */
  downstreamNotification(serverId: string, notification: ServerNotification): void;
}

export interface ServerMessagesOptions {
  serverId: string;
  log: Logger;
  /** What the connection declares: a server→client request is relayed only for a declared capability. */
  capabilities: ClientCapabilities;
  /** The session's agent, for server→client requests made outside any call; none for shared connections. */
  fallbackLink?: RelayLink;
  listeners: ReadonlySet<ConnectionListener>;
  /** The server said a list changed. */
  listChanged: (kind: ListKind) => void;
}

/**
 * Where a server's own messages go (src/downstream/connection.ts installs this on every client it
 * connects): progress to the call that asked for it, log messages and requests (sampling, elicitation,
 * roots) to the agent request they belong to, `list_changed` to the catalog refresh.
 */
export class ServerMessages {
  private readonly inflight = new Map<number, RelayLink>();
  private nextCallId = 1;

  constructor(private readonly options: ServerMessagesOptions) {}

  /** The session that takes over a connection it did not open (`stdio`: the start-up probe's) routes here from now on. */
  setFallbackLink(link: RelayLink): void {
    this.options.fallbackLink = link;
  }

  /** An agent request in flight on the connection, until the returned function is called. */
  track(link: RelayLink | undefined): () => void {
    if (!link) return () => undefined;
    const callId = this.nextCallId++;
    this.inflight.set(callId, link);
    return () => this.inflight.delete(callId);
  }

  install(client: DownstreamClient): void {
    const { listChanged } = this.options;
    // Progress is routed by forward.ts with the gateway's own tokens; the SDK's handler would drop them.
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      for (const link of this.inflight.values()) if (link.progress(n.params)) return;
    });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => listChanged('tools'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => listChanged('prompts'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => listChanged('resources'));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => this.route(n));
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      for (const listener of this.options.listeners) listener.downstreamNotification(this.options.serverId, n);
    });

    const caps = this.options.capabilities;
    const relay =
      (method: string) =>
      async (request: { method: string; params?: unknown }, extra: { signal: AbortSignal; inputKey?: string }) => {
        const link = this.currentLink();
        if (!link)
          throw new Error(`${method} cannot be relayed: no agent request is in flight on this shared connection`);
        return link.relayRequest(request, extra.signal, extra.inputKey);
      };
    if (caps.sampling) client.setRequestHandler(CreateMessageRequestSchema, relay('sampling/createMessage') as never);
    if (caps.elicitation) client.setRequestHandler(ElicitRequestSchema, relay('elicitation/create') as never);
    if (caps.roots) client.setRequestHandler(ListRootsRequestSchema, relay('roots/list') as never);
  }

  /** The agent request a server→client message belongs to: the latest call in flight, else the session. */
  private currentLink(): RelayLink | undefined {
    let latest: RelayLink | undefined;
    for (const link of this.inflight.values()) latest = link;
    if (latest && (this.options.fallbackLink || this.inflight.size === 1)) return latest;
    return this.options.fallbackLink;
  }

  /** Log messages go to the agent whose call is in flight, or to the owning session. */
  private route(notification: ServerNotification): void {
    const link = this.currentLink();
    if (link) {
      void link.notify(notification);
      return;
    }
    // A shared connection has no one session to tell: fanning out would leak between tenants.
    if (!this.options.fallbackLink) {
      this.options.log.debug(
        { method: notification.method },
        'log message from a shared server with no single call in flight; not relayed',
      );
      return;
    }
    for (const listener of this.options.listeners) listener.downstreamNotification(this.options.serverId, notification);
  }
}
