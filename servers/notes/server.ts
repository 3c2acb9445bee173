import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MAX_NOTE_BYTES, NOTE_NAME_PATTERN, NoteError, type NoteStore } from './store.js';

export const NOTES_SERVER_NAME = 'warden-notes';
export const NOTES_SERVER_VERSION = '0.1.0';

/** JSON-RPC error code the MCP specification gives to an unknown resource. */
const RESOURCE_NOT_FOUND = -32002;
const MAX_SEARCH_HITS = 50;
const NOTE_MIME_TYPE = 'text/plain';

const NoteNameSchema = z
  .string()
  .regex(NOTE_NAME_PATTERN)
  .describe(
    'Note name: 1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit (e.g. "meeting-2025.md").',
  );

const NoteInfoShape = {
  name: z.string(),
  size: z.number().int().nonnegative().describe('Size in bytes.'),
  modified: z.string().describe('Last modification time, ISO 8601.'),
};

export type Log = (message: string) => void;

/** Builds the notes MCP server: five tools, one resource template (`note://NAME`), one prompt. */
export function createNotesServer(store: NoteStore, log: Log): McpServer {
  const server = new McpServer({ name: NOTES_SERVER_NAME, version: NOTES_SERVER_VERSION, title: 'Warden demo notes' });

  /** Runs a tool body; a NoteError becomes a tool error with its message, anything else a generic one. */
  const run = async (tool: string, body: () => Promise<CallToolResult>): Promise<CallToolResult> => {
    try {
      return await body();
    } catch (error) {
      if (error instanceof NoteError) return toolError(error.message);
      log(`${tool} failed: ${error instanceof Error ? error.message : String(error)}`);
      return toolError(`${tool} failed: internal error`);
    }
  };

  server.registerTool(
    'list_notes',
    {
      title: 'List notes',
      description: 'List every stored note with its size in bytes and last modification time, sorted by name.',
      outputSchema: { notes: z.array(z.object(NoteInfoShape)) },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    () =>
      run('list_notes', async () => {
        const notes = await store.list();
        const text = notes.length === 0 ? 'No notes.' : notes.map((n) => `${n.name} (${n.size} bytes)`).join('\n');
        return { content: [{ type: 'text', text }], structuredContent: { notes } };
      }),
  );

  server.registerTool(
    'read_note',
    {
      title: 'Read note',
      description: 'Return the full text of one note.',
      inputSchema: { name: NoteNameSchema },
      outputSchema: { ...NoteInfoShape, content: z.string() },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ name }) =>
      run('read_note', async () => {
        const note = await store.read(name);
        return { content: [{ type: 'text', text: note.content }], structuredContent: { ...note } };
      }),
  );

  server.registerTool(
    'search_notes',
    {
      title: 'Search notes',
      description: `Case-insensitive substring search over note names and contents. Returns up to ${MAX_SEARCH_HITS} notes, each with up to 5 matching lines (line numbers start at 1).`,
      inputSchema: { query: z.string().min(1).max(200).describe('Text to look for (1-200 characters).') },
      outputSchema: {
        query: z.string(),
        hits: z.array(
          z.object({
            name: z.string(),
            nameMatched: z.boolean(),
            lines: z.array(z.object({ line: z.number().int().positive(), text: z.string() })),
          }),
        ),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ query }) =>
      run('search_notes', async () => {
        const hits = await store.search(query, MAX_SEARCH_HITS);
        const text =
          hits.length === 0
            ? `No notes match ${JSON.stringify(query)}.`
            : hits.map((h) => [h.name, ...h.lines.map((l) => `  ${l.line}: ${l.text}`)].join('\n')).join('\n');
        return { content: [{ type: 'text', text }], structuredContent: { query, hits } };
      }),
  );

  server.registerTool(
    'write_note',
    {
      title: 'Write note',
      description: `Create a note, or replace the whole content of an existing note (the old content is lost). Content is limited to ${MAX_NOTE_BYTES} bytes of UTF-8.`,
      inputSchema: {
        name: NoteNameSchema,
        content: z.string().max(MAX_NOTE_BYTES).describe(`Full note text (at most ${MAX_NOTE_BYTES} bytes of UTF-8).`),
      },
      outputSchema: { ...NoteInfoShape, created: z.boolean().describe('True if the note did not exist before.') },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ name, content }) =>
      run('write_note', async () => {
        const { info, created } = await store.write(name, content);
        if (created) server.sendResourceListChanged();
        const text = `${created ? 'Created' : 'Replaced'} note ${info.name} (${info.size} bytes).`;
        return { content: [{ type: 'text', text }], structuredContent: { ...info, created } };
      }),
  );

  server.registerTool(
    'delete_note',
    {
      title: 'Delete note',
      description: 'Permanently delete one note. Fails if the note does not exist.',
      inputSchema: { name: NoteNameSchema },
      outputSchema: { name: z.string(), deleted: z.literal(true) },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ name }) =>
      run('delete_note', async () => {
        await store.delete(name);
        server.sendResourceListChanged();
        return {
          content: [{ type: 'text', text: `Deleted note ${name}.` }],
          structuredContent: { name, deleted: true },
        };
      }),
  );

  server.registerResource(
    'note',
    new ResourceTemplate('note://{name}', {
      list: async () => ({
        resources: (await store.list()).map((n) => ({
          uri: noteUri(n.name),
          name: n.name,
          mimeType: NOTE_MIME_TYPE,
          size: n.size,
        })),
      }),
      complete: {
        name: async (prefix) => (await store.list()).map((n) => n.name).filter((name) => name.startsWith(prefix)),
      },
    }),
    { title: 'Note', description: 'The text of one stored note.', mimeType: NOTE_MIME_TYPE },
    async (uri, variables) => {
      const name = typeof variables.name === 'string' ? variables.name : '';
      const note = await readForProtocol(store, name, uri.href);
      return { contents: [{ uri: noteUri(note.name), mimeType: NOTE_MIME_TYPE, text: note.content }] };
    },
  );

  server.registerPrompt(
    'summarize_note',
    {
      title: 'Summarize note',
      description: 'Ask the model for a short summary of one note; the note is attached as a resource.',
      argsSchema: { name: NoteNameSchema },
    },
    async ({ name }) => {
      const note = await readForProtocol(store, name, noteUri(name));
      return {
        description: `Summarize note ${note.name}`,
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text: `Summarize the attached note "${note.name}" in at most five bullet points. Keep names, dates and decisions.`,
            },
          },
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: { uri: noteUri(note.name), mimeType: NOTE_MIME_TYPE, text: note.content },
            },
          },
        ],
      };
    },
  );

  return server;
}

export function noteUri(name: string): string {
  return `note://${name}`;
}

function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** Reads a note for resources/read and prompts/get, mapping failures to JSON-RPC errors. */
async function readForProtocol(store: NoteStore, name: string, uri: string) {
  try {
    return await store.read(name);
  } catch (error) {
    if (error instanceof NoteError) {
      if (error.code === 'not_found') throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`);
      throw new McpError(-32602, error.message);
    }
    throw error;
  }
}
