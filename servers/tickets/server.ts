import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { PRIORITIES, STATUSES, TicketError, TicketSchema, type TicketStore } from './store.js';

export const TICKETS_SERVER_NAME = 'warden-tickets';
export const TICKETS_SERVER_VERSION = '0.1.0';

export type Log = (message: string) => void;

const TicketIdSchema = z.number().int().positive().describe('Ticket id, as returned by create_ticket or list_tickets.');

/** Builds one MCP server instance (one per HTTP session) over the shared ticket store. */
export function createTicketsServer(store: TicketStore, log: Log): McpServer {
  const server = new McpServer({
    name: TICKETS_SERVER_NAME,
    version: TICKETS_SERVER_VERSION,
    title: 'Warden demo tickets',
  });

  const run = (tool: string, body: () => CallToolResult): CallToolResult => {
    try {
      return body();
    } catch (error) {
      if (error instanceof TicketError) return toolError(error.message);
      log(`${tool} failed: ${error instanceof Error ? error.message : String(error)}`);
      return toolError(`${tool} failed: internal error`);
    }
  };

  server.registerTool(
    'create_ticket',
    {
      title: 'Create ticket',
      description: 'Open a new ticket. Returns the ticket with its new id.',
      inputSchema: {
        title: z.string().min(1).max(200).describe('One-line summary (1-200 characters).'),
        body: z.string().max(10_000).describe('Details (at most 10000 characters; may be empty).'),
        priority: z.enum(PRIORITIES).describe('One of low, medium, high, urgent.'),
      },
      outputSchema: { ticket: TicketSchema },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (input, extra) =>
      run('create_ticket', () => {
        const ticket = store.create(input, author(extra.authInfo));
        return result(`Created ticket ${ticket.id}: ${ticket.title}`, { ticket });
      }),
  );

  server.registerTool(
    'list_tickets',
    {
      title: 'List tickets',
      description: 'List tickets in creation order, optionally only the open or only the closed ones.',
      inputSchema: { status: z.enum(STATUSES).optional().describe('Only tickets with this status (open or closed).') },
      outputSchema: { tickets: z.array(TicketSchema) },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ status }) =>
      run('list_tickets', () => {
        const tickets = store.list(status);
        const text =
          tickets.length === 0
            ? 'No tickets.'
            : tickets.map((t) => `#${t.id} [${t.status}] (${t.priority}) ${t.title}`).join('\n');
        return result(text, { tickets });
      }),
  );

  server.registerTool(
    'comment_ticket',
    {
      title: 'Comment on ticket',
      description: 'Append a comment to a ticket (open or closed). Comments cannot be edited or removed.',
      inputSchema: {
        id: TicketIdSchema,
        comment: z.string().min(1).max(10_000).describe('Comment text (1-10000 characters).'),
      },
      outputSchema: { ticket: TicketSchema },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ id, comment }, extra) =>
      run('comment_ticket', () => {
        const ticket = store.comment(id, comment, author(extra.authInfo));
        return result(`Commented on ticket ${id} (${ticket.comments.length} comments).`, { ticket });
      }),
  );

  server.registerTool(
    'close_ticket',
    {
      title: 'Close ticket',
      description: 'Mark a ticket closed. Nothing is deleted; closing a closed ticket changes nothing.',
      inputSchema: { id: TicketIdSchema },
      outputSchema: { ticket: TicketSchema, alreadyClosed: z.boolean() },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ id }) =>
      run('close_ticket', () => {
        const { ticket, alreadyClosed } = store.close(id);
        return result(alreadyClosed ? `Ticket ${id} was already closed.` : `Closed ticket ${id}.`, {
          ticket,
          alreadyClosed,
        });
      }),
  );

  return server;
}

/** The verified subject of the caller: who created a ticket or wrote a comment. */
function author(auth: AuthInfo | undefined): string {
  const subject = auth?.extra?.['subject'];
  return typeof subject === 'string' && subject !== '' ? subject : 'unknown';
}

function result(text: string, structuredContent: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent };
}

function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}
