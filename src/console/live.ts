import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { headsAfter, lastSeq, type Query } from './queries.js';

export const LIVE_POLL_MS = 250;
const BATCH = 500;
/** Live-feed sockets one session may hold, and the console in total. */
export const MAX_SOCKETS_PER_SESSION = 8;
export const MAX_SOCKETS = 64;
/** A client this far behind (bytes queued, unsent) is closed rather than buffered without bound. */
const MAX_BUFFERED = 4 * 1024 * 1024;

interface Subscriber {
  socket: WebSocket;
  session: string;
  /** Re-checked before each push: a session that ended or expired (on any replica) stops receiving. */
  stillValid: () => Promise<boolean>;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The live feed: polls the audit log for entries after the last one seen (any gateway process on the data
 * folder, or any replica on the PostgreSQL store, may have written them) and pushes their heads to every
 * signed-in WebSocket client. Polls only while someone is watching, one poll at a time. Nothing a client does (an oversized or invalid frame, a dropped
 * connection, a slow reader) and no database error escapes into the process: the socket is closed and
 * the event logged.
 */
export class LiveFeed {
  private readonly subscribers = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  /** The first subscriber's starting point, read once for every socket that arrives meanwhile. */
  private starting: Promise<number> | undefined;
  private polling = false;

  constructor(
    private readonly query: Query,
    private readonly logger: Logger,
  ) {}

  /** Whether another socket for this session (the digest of its token) may be opened. */
  hasRoom(session: string): boolean {
    if (this.subscribers.size >= MAX_SOCKETS) return false;
    let count = 0;
    for (const s of this.subscribers) if (s.session === session) count += 1;
    return count < MAX_SOCKETS_PER_SESSION;
  }

  async add(socket: WebSocket, session: string, stillValid: () => Promise<boolean>): Promise<void> {
    const subscriber = { socket, session, stillValid };
    socket.on('error', (error) => {
      // ws emits 'error' for a frame over maxPayload, a bad opcode, invalid UTF-8...: without a listener
      // it would be thrown and end the process.
      // ws has already sent the matching close frame (1009 too big, 1002...) when it reports a bad frame;
      // anything else ends the connection here.
      this.logger.warn({ err: message(error) }, 'console live feed: client sent an invalid frame; connection closed');
      if (socket.readyState === socket.OPEN) socket.terminate();
    });
    socket.on('close', () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stopPolling();
    });
    socket.on('message', () => {
      // The feed is one-way; anything a client sends is ignored.
    });
    try {
      if (this.subscribers.size === 0) {
        this.starting ??= lastSeq(this.query).finally(() => (this.starting = undefined));
        this.last = await this.starting;
      }
    } catch (error) {
      this.logger.warn({ err: message(error) }, 'console live feed: audit database read failed; connection closed');
      socket.close(1011, 'audit database unavailable');
      return;
    }
    // Closed while the starting point was read: nothing to add.
    if (socket.readyState !== socket.OPEN) return;
    this.subscribers.add(subscriber);
    socket.send(JSON.stringify({ type: 'hello', seq: this.last }));
    if (!this.timer) this.timer = setInterval(() => this.poll(), LIVE_POLL_MS);
  }

  private poll(): void {
    // A slow read (a busy store) is not overtaken by the next tick: one poll at a time.
    if (this.polling) return;
    this.polling = true;
    this.pollOnce()
      .catch((error: unknown) => this.logger.warn({ err: message(error) }, 'console live feed: push failed'))
      .finally(() => (this.polling = false));
  }

  private async pollOnce(): Promise<void> {
    let heads;
    try {
      heads = await headsAfter(this.query, this.last, BATCH);
    } catch (error) {
      this.logger.warn({ err: message(error) }, 'console live feed: audit database read failed; retrying');
      return;
    }
    if (heads.length === 0 || this.subscribers.size === 0) return;
    this.last = heads.at(-1)!.seq;
    const text = JSON.stringify({ type: 'entries', entries: heads });
    for (const subscriber of [...this.subscribers]) {
      let valid = false;
      try {
        valid = await subscriber.stillValid();
      } catch (error) {
        // A check that cannot be made (state.db busy, say) is a check that failed.
        this.logger.warn({ err: message(error) }, 'console live feed: session check failed; connection closed');
      }
      if (!valid) {
        this.drop(subscriber, 4401, 'session ended');
        continue;
      }
      if (subscriber.socket.bufferedAmount > MAX_BUFFERED) {
        this.logger.warn(
          { buffered: subscriber.socket.bufferedAmount },
          'console live feed: client is not reading; connection closed',
        );
        this.drop(subscriber, 4408, 'too slow');
        continue;
      }
      subscriber.socket.send(text, (error) => {
        if (error) subscriber.socket.terminate();
      });
    }
  }

  private drop(subscriber: Subscriber, code: number, reason: string): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0) this.stopPolling();
    try {
      subscriber.socket.close(code, reason);
    } catch {
      subscriber.socket.terminate();
    }
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stopPolling();
    for (const subscriber of this.subscribers) subscriber.socket.terminate();
    this.subscribers.clear();
  }
}
