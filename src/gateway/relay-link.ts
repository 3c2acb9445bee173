import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
  type ProgressNotification,
  type RequestId,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RelayLink } from '../downstream/forward.js';
import { cleanLabel, cleanText } from '../model/sanitize.js';
import type { Scrubber } from '../pipeline/stages.js';
import { mapJson } from '../model/json-walk.js';

/** Server→client requests wait for a person (elicitation) or a model (sampling): generous, but bounded. */
const RELAY_TIMEOUT_MS = 10 * 60_000;

const RESULT_SCHEMAS = {
  'sampling/createMessage': CreateMessageResultSchema,
  'elicitation/create': ElicitResultSchema,
  'roots/list': ListRootsResultSchema,
} as const;

let outboundCounter = 0;

/**
 * Where a relayed request carries a 2026 server's `inputRequests` key to the 2026 pool's transport
 * (`_meta.warden.inputKey`): the gateway's own `_meta` key, taken off by that transport (takeInputKey)
 * before anything else sees the request. Added only for sessions with `inputKeys` (the 2026 pool).
 */
const KEY_META = 'warden';

/** The relayed request with the server's key on it. */
function withInputKey(request: { method: string; params?: unknown }, key: string) {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const meta = (params._meta ?? {}) as Record<string, unknown>;
  return { ...request, params: { ...params, _meta: { ...meta, [KEY_META]: { inputKey: key } } } };
}

/** A relayed request's params without the key, and the key (when it is a string). */
export function takeInputKey(params: Record<string, unknown> | undefined): {
  params: Record<string, unknown> | undefined;
  key?: string;
} {
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (meta === undefined || typeof meta !== 'object' || !(KEY_META in meta)) return { params };
  const { [KEY_META]: carried, ...rest } = meta;
  const { _meta: _m, ...plain } = params!;
  const key = (carried as { inputKey?: unknown } | undefined)?.inputKey;
  return {
    params: Object.keys(rest).length > 0 ? { ...plain, _meta: rest } : plain,
    ...(typeof key === 'string' && { key }),
  };
}

/**
 * Connects one downstream request to the agent: progress with the gateway's own token mapped back to
 * the agent's, notifications and server→client requests on the agent request's own stream
 * (`relatedRequestId`), and a flush so every notification is sent before the result.
 */
export class AgentRequestLink implements RelayLink {
  readonly outboundProgressToken: string | undefined;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly server: Server,
    /** The egress stage: every notification and relayed request passes it. */
    private readonly egress: Scrubber,
    private readonly relatedRequestId: RequestId | undefined,
    private readonly agentProgressToken: string | number | undefined,
    /** Wraps each server→client request so it is recorded (intent before, outcome after) by the pipeline. */
    private readonly record?: (
      request: { method: string; params?: unknown },
      send: () => Promise<unknown>,
    ) => Promise<unknown>,
    /** Where notifications go instead of the agent request's stream (the hot path writes them before its answer). */
    private readonly deliver?: (notification: ServerNotification) => void,
    /** Relayed requests carry the server's inputRequests key to the session's transport (the 2026 pool). */
    private readonly inputKeys = false,
  ) {
    this.outboundProgressToken =
      agentProgressToken === undefined ? undefined : `warden-${process.pid}-${++outboundCounter}`;
  }

  progress(params: ProgressNotification['params']): boolean {
    if (this.outboundProgressToken === undefined || params.progressToken !== this.outboundProgressToken) return false;
    const relayed = { ...params, progressToken: this.agentProgressToken as string | number };
    if (typeof relayed.message === 'string') relayed.message = cleanText(relayed.message);
    this.track(this.notify({ method: 'notifications/progress', params: relayed }));
    return true;
  }

  notify(notification: ServerNotification): Promise<void> {
    let cleaned: ServerNotification;
    try {
      cleaned = this.egress.scrubValue(cleanNotification(notification));
    } catch {
      return Promise.resolve(); // nested too deep to scrub: dropped, never passed on unscrubbed
    }
    if (this.deliver) {
      this.deliver(cleaned);
      return Promise.resolve();
    }
    const sent = this.server
      .notification(
        cleaned,
        this.relatedRequestId === undefined ? undefined : { relatedRequestId: this.relatedRequestId },
      )
      .catch(() => undefined);
    this.track(sent);
    return sent;
  }

  relayRequest(
    request: { method: string; params?: unknown },
    signal: AbortSignal,
    inputKey?: string,
  ): Promise<unknown> {
    const schema = RESULT_SCHEMAS[request.method as keyof typeof RESULT_SCHEMAS];
    if (!schema) return Promise.reject(new Error(`${request.method} is not relayed`));
    let scrubbed: { method: string; params?: unknown };
    try {
      // Recorded and sent as one scrubbed value: the audit holds exactly what the agent was asked.
      scrubbed = this.egress.scrubValue(request);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error('request could not be scrubbed'));
    }
    const outgoing = this.inputKeys && inputKey !== undefined ? withInputKey(scrubbed, inputKey) : scrubbed;
    const send = () =>
      this.server.request(outgoing as never, schema, {
        signal,
        timeout: RELAY_TIMEOUT_MS,
        ...(this.relatedRequestId !== undefined && { relatedRequestId: this.relatedRequestId }),
      });
    return this.record ? this.record(scrubbed, send) : send();
  }

  async flush(): Promise<void> {
    // Let notification handlers scheduled by the same chunk as the response run, then wait for their sends.
    await nextTurn();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(promise: Promise<unknown>): void {
    const settled: Promise<unknown> = promise.then(
      (): boolean => this.pending.delete(settled),
      (): boolean => this.pending.delete(settled),
    );
    this.pending.add(settled);
  }
}

function cleanNotification(notification: ServerNotification): ServerNotification {
  if (notification.method === 'notifications/message') {
    // Log data is text for a person or a model, whatever its shape: every string in it is cleaned.
    let data: unknown;
    try {
      data = mapJson(notification.params.data, { string: cleanText });
    } catch {
      data = '[log data nested too deep; not relayed]'; // JsonDepthError: never passed on uncleaned
    }
    const params = { ...notification.params, data };
    if (typeof params.logger === 'string') params.logger = cleanLabel(params.logger);
    return { ...notification, params };
  }
  return notification;
}
