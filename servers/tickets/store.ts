import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

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

/** In-memory tickets, optionally persisted (atomically, after every change) to one JSON file. */
export class TicketStore {
  private readonly tickets = new Map<number, Ticket>();
  private nextId = 1;

  private constructor(
    private readonly file: string | undefined,
    private readonly now: () => Date,
  ) {}

  /** Loads the store; a missing file starts empty, a malformed one throws naming the file. */
  static open(file: string | undefined, now: () => Date = () => new Date()): TicketStore {
    const store = new TicketStore(file, now);
    if (file !== undefined && existsSync(file)) {
      let parsed: z.infer<typeof StoreFileSchema>;
      try {
        parsed = StoreFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      } catch (error) {
        const detail = error instanceof z.ZodError ? 'does not match the tickets file format' : 'is not valid JSON';
        throw new Error(`--data ${file}: ${detail}`, { cause: error });
      }
      for (const ticket of parsed.tickets) store.tickets.set(ticket.id, ticket);
      store.nextId = Math.max(parsed.nextId, ...parsed.tickets.map((t) => t.id + 1));
    }
    return store;
  }

  create(input: { title: string; body: string; priority: Priority }, author: string): Ticket {
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
    this.save();
    return ticket;
  }

  list(status?: Status): Ticket[] {
    return [...this.tickets.values()].filter((t) => status === undefined || t.status === status);
  }

  comment(id: number, text: string, author: string): Ticket {
    const ticket = this.get(id);
    if (ticket.comments.length >= MAX_COMMENTS) throw new TicketError(`ticket ${id} has reached ${MAX_COMMENTS} comments`);
    ticket.comments.push({ author, text, at: this.now().toISOString() });
    this.save();
    return ticket;
  }

  /** Closes a ticket; closing a closed ticket changes nothing. */
  close(id: number): { ticket: Ticket; alreadyClosed: boolean } {
    const ticket = this.get(id);
    if (ticket.status === 'closed') return { ticket, alreadyClosed: true };
    ticket.status = 'closed';
    ticket.closedAt = this.now().toISOString();
    this.save();
    return { ticket, alreadyClosed: false };
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
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
  }
}
