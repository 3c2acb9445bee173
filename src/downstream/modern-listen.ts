// The gateway's own `subscriptions/listen` stream on a 2026-07-28 server: at 2026 a server sends
// list_changed and resources/updated only on a stream its client opened, never unsolicited.
import type { Client as V2Client, McpSubscription, SubscriptionFilter } from '@modelcontextprotocol/client';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

type ChangeCapabilities =
  | {
      tools?: { listChanged?: boolean };
      prompts?: { listChanged?: boolean };
      resources?: { listChanged?: boolean; subscribe?: boolean };
    }
  | undefined;

/**
 * One stream per connection asks for every list change the server declares it announces and for the
 * resources subscribed through this connection; it is re-opened (the new one acknowledged before the
 * old one closes) when that set changes. What arrives on it reaches the handlers registered on the
 * client (server-messages.ts), as a 2025 server's unsolicited notifications do, so catalog refresh,
 * relists and the agents' list_changed work the same for both eras.
 */
export class ModernListen {
  private subscription: McpSubscription | undefined;
  /** Resources subscribed through this connection (2026 has no `resources/subscribe`: they go in the filter). */
  private readonly subscribed = new Set<string>();
  /** Re-opens, one at a time. */
  private opening: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly client: V2Client) {}

  /** Opens (or re-opens) the stream with the filter as it stands; resolves with what the server honored. */
  open(): Promise<SubscriptionFilter | undefined> {
    const next = this.opening.then(async () => {
      if (this.closed) return undefined;
      const caps = this.client.getServerCapabilities() as ChangeCapabilities;
      const filter: SubscriptionFilter = {
        ...(caps?.tools?.listChanged === true && { toolsListChanged: true }),
        ...(caps?.prompts?.listChanged === true && { promptsListChanged: true }),
        ...(caps?.resources?.listChanged === true && { resourcesListChanged: true }),
        ...(caps?.resources?.subscribe === true &&
          this.subscribed.size > 0 && { resourceSubscriptions: [...this.subscribed] }),
      };
      const previous = this.subscription;
      const opened = Object.keys(filter).length > 0 ? await this.client.listen(filter) : undefined;
      this.subscription = opened;
      await previous?.close().catch(() => undefined);
      return opened?.honoredFilter;
    });
    this.opening = next.catch(() => undefined);
    return next;
  }

  /** `resources/subscribe` or `unsubscribe` at 2026: the URI joins (or leaves) the filter; the server must honor it. */
  async subscribe(method: string, uri: unknown): Promise<Record<string, never>> {
    if (typeof uri !== 'string') throw new McpError(ErrorCode.InvalidParams, `${method} needs params.uri`);
    if (method === 'resources/unsubscribe') {
      if (this.subscribed.delete(uri)) await this.open();
      return {};
    }
    this.subscribed.add(uri);
    const honored = await this.open();
    if (honored?.resourceSubscriptions?.includes(uri) !== true) {
      this.subscribed.delete(uri);
      throw new McpError(ErrorCode.InvalidParams, `The server does not offer updates of ${uri}`);
    }
    return {};
  }

  async close(): Promise<void> {
    this.closed = true;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.close().catch(() => undefined);
  }
}
