import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { withFileLock } from './file-lock.js';

export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export const STATUSES = ['open', 'closed'] as const;

export const MAX_TICKETS = 10_000;
export const MAX_COMMENTS = 1_000;

export const CommentSchema = z.object({
  author: z.string(),
  text: z.string(),
  at: z.string(),
});

export const TicketSchema = z.object({
  id: z.number().int().positive(),
  title: z.string(),
  body: z.string(),
  priority: z.enum(PRIORITIES),
  status: z.enum(STATUSES),
  createdBy: z.string(),
  createdAt: z.string(),
  closedAt: z.string().optional(),
  comments: z.array(CommentSchema),
});

export type Ticket = z.infer<typeof TicketSchema>;
export type Priority = (typeof PRIORITIES)[number];
export type Status = (typeof STATUSES)[number];

const StoreFileSchema = z.object({ nextId: z.number().int().positive(), tickets: z.array(TicketSchema) });

/** An error reported to the caller as a tool error. */
export class TicketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TicketError';
  }
}

/**
 * Tickets, optionally persisted to one JSON file that several processes may share (two gateways on
 * one data folder each launch their own tickets server): every change is made under a lock file on
 * the newest content of the file and written atomically; every read sees the file's newest content.
 */
export class TicketStore {
  private readonly tickets = new Map<number, Ticket>();
  private nextId = 1;
  /** mtime and size of the file as last read or written, to skip re-reading an unchanged file. */
  private seen: string | undefined;

  private constructor(
    private readonly file: string | undefined,
    private readonly now: () => Date,
  ) {}

  /** Loads the store; a missing file starts empty, a malformed one throws naming the file. */
  static open(file: string | undefined, now: () => Date = () => new Date()): TicketStore {
    const store = new TicketStore(file, now);
    store.reload();
    return store;
  }

  /** Reads the file again if it changed since this process last read or wrote it. */
  private reload(): void {
    const file = this.file;
    if (file === undefined || !existsSync(file)) return;
    const stat = statSync(file);
    const version = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    if (version === this.seen) return;
    let parsed: z.infer<typeof StoreFileSchema>;
    try {
      parsed = StoreFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch (error) {
      const detail = error instanceof z.ZodError ? 'does not match the tickets file format' : 'is not valid JSON';
      throw new Error(`--data ${file}: ${detail}`, { cause: error });
    }
    this.tickets.clear();
    for (const ticket of parsed.tickets) this.tickets.set(ticket.id, ticket);
    this.nextId = Math.max(parsed.nextId, ...parsed.tickets.map((t) => t.id + 1));
    this.seen = version;
  }

  /** A change: under the file's lock, on its newest content, saved before the lock is released. */
  private change<T>(work: () => T): T {
    if (this.file === undefined) return work();
    return withFileLock(this.file, () => {
      this.reload();
      const result = work();
      this.save();
      return result;
    });
  }

  create(input: { title: string; body: string; priority: Priority }, author: string): Ticket {
    return this.change(() => this.createNow(input, author));
  }

  private createNow(input: { title: string; body: string; priority: Priority }, author: string): Ticket {
    if (this.tickets.size >= MAX_TICKETS) throw new TicketError(`the store is full (${MAX_TICKETS} tickets)`);
    const ticket: Ticket = {
      id: this.nextId++,
      ...input,
      status: 'open',
      createdBy: author,
      createdAt: this.now().toISOString(),
      comments: [],
    };
    this.tickets.set(ticket.id, ticket);
    return ticket;
  }

  list(status?: Status): Ticket[] {
    this.reload();
    return [...this.tickets.values()].filter((t) => status === undefined || t.status === status);
  }

  comment(id: number, text: string, author: string): Ticket {
    return this.change(() => {
      const ticket = this.get(id);
      if (ticket.comments.length >= MAX_COMMENTS)
        throw new TicketError(`ticket ${id} has reached ${MAX_COMMENTS} comments`);
      ticket.comments.push({ author, text, at: this.now().toISOString() });
      return ticket;
    });
  }

  /** Closes a ticket; closing a closed ticket changes nothing. */
  close(id: number): { ticket: Ticket; alreadyClosed: boolean } {
    return this.change(() => {
      const ticket = this.get(id);
      if (ticket.status === 'closed') return { ticket, alreadyClosed: true };
      ticket.status = 'closed';
      ticket.closedAt = this.now().toISOString();
      return { ticket, alreadyClosed: false };
    });
  }

  private get(id: number): Ticket {
    const ticket = this.tickets.get(id);
    if (ticket === undefined) throw new TicketError(`ticket ${id} not found`);
    return ticket;
  }

  private save(): void {
    if (this.file === undefined) return;
    const data = JSON.stringify({ nextId: this.nextId, tickets: [...this.tickets.values()] }, null, 2);
    const temp = join(dirname(this.file), `.tickets-${randomBytes(6).toString('hex')}.tmp`);
    try {
      writeFileSync(temp, `${data}\n`, { mode: 0o600, flag: 'wx' });
      renameSync(temp, this.file);
      const stat = statSync(this.file);
      this.seen = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
  }
}
