// Where a 2026-07-28 request's notifications go: the event stream (or stdout lines) of the agent request
// they belong to. Progress goes under that request's own progress token, log messages only at or above
// the `_meta` logLevel it set. Calls that may ask the agent keep their stream in request-rounds.ts (a
// retry brings a stream of its own); every other relayed request (lists, completion/complete) runs here.
import type { MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import type { Answer, InProcessTransport } from './in-process-transport.js';
import { LOG_LEVELS } from './stateless-envelope.js';

/** A notification a server sent during one request. */
type RelatedNotification = { method: string; params?: Record<string, unknown> };

/** Writes one notification on the waiting agent request's own stream. */
export type Notify = (notification: { method: string; params: Record<string, unknown> }) => void;

/** An agent request's own stream: its progress token and its `_meta` logLevel (none: no log messages). */
export interface RequestStream {
  notify: Notify;
  progressToken: string | number | undefined;
  logLevel: string | undefined;
}

/** The progress token of a request's `_meta`, when it has a usable one. */
export function progressTokenOf(params: Record<string, unknown>): string | number | undefined {
  const token = (params._meta as { progressToken?: unknown } | undefined)?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/**
 * One notification of a request onto its stream: progress under the request's own token (none without
 * one), a log message only at or above the request's logLevel (none without one); anything else dropped.
 */
export function toStream(
  stream: RequestStream,
  notification: { method: string; params?: Record<string, unknown> },
): void {
  if (notification.method === 'notifications/message') {
    const level = LOG_LEVELS.indexOf(notification.params?.level as string);
    if (stream.logLevel !== undefined && level >= LOG_LEVELS.indexOf(stream.logLevel))
      stream.notify({ method: notification.method, params: notification.params ?? {} });
    return;
  }
  if (stream.progressToken === undefined || notification.method !== 'notifications/progress') return;
  stream.notify({
    method: notification.method,
    params: { ...notification.params, progressToken: stream.progressToken },
  });
}

/** The streams of running requests that are not calls, by their in-process request id. */
export class RequestStreams {
  private readonly streams = new Map<string, RequestStream>();

  constructor(
    /** Where the notifications of every other request go (the calls' rounds). */
    private readonly others: { notification(relatedId: string, notification: RelatedNotification): void },
  ) {}

  /** Writes a notification of request `relatedId` on its stream, or hands it on when it is not one of these. */
  notification(relatedId: string, notification: RelatedNotification): void {
    const stream = this.streams.get(relatedId);
    if (stream) toStream(stream, notification);
    else this.others.notification(relatedId, notification);
  }

  /** Runs one request with its stream open until it is answered; the agent's abort cancels it downstream. */
  async run(
    transport: InProcessTransport,
    request: { method: string; params: Record<string, unknown>; logLevel?: string },
    extra: MessageExtraInfo,
    exchange: { notify: Notify; signal: AbortSignal },
  ): Promise<Answer> {
    const { id, done } = transport.begin(request.method, request.params, extra);
    this.streams.set(id, {
      notify: exchange.notify,
      progressToken: progressTokenOf(request.params),
      logLevel: request.logLevel,
    });
    const onAbort = () => transport.cancel(id, 'the agent closed the request');
    if (exchange.signal.aborted) onAbort();
    else exchange.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await done;
    } finally {
      exchange.signal.removeEventListener('abort', onAbort);
      this.streams.delete(id);
    }
  }
}
