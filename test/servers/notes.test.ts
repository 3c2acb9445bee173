// The bundled notes server, run as a real process from dist/ and driven by a real SDK client.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, makeTempDir, waitFor, waitForExit, type TempDir } from '../helpers/process.js';

const NOTES_MAIN = fileURLToPath(new URL('../../dist/servers/notes/main.js', import.meta.url));

async function connect(dir: string): Promise<{ client: Client; transport: StdioClientTransport }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [NOTES_MAIN, '--dir', dir],
    stderr: 'pipe',
  });
  const client = new Client({ name: 'notes-test', version: '0.0.0' });
  await client.connect(transport);
  return { client, transport };
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

describe('notes server (stdio)', () => {
  let root: TempDir;
  let dir: string;
  let client: Client;
  let listChanged = 0;

  const call = async (name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;

  beforeAll(async () => {
    if (!existsSync(NOTES_MAIN)) throw new Error(`${NOTES_MAIN} missing: run npx tsc -p tsconfig.build.json first`);
    root = await makeTempDir('warden-notes');
    dir = join(root.path, 'notes'); // does not exist yet: the server must create it
    ({ client } = await connect(dir));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      listChanged += 1;
    });
  });

  afterAll(async () => {
    await client?.close();
    await root?.cleanup();
  });

  it('creates its data folder and lists five tools with honest annotations', async () => {
    expect(existsSync(dir)).toBe(true);
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(['delete_note', 'list_notes', 'read_note', 'search_notes', 'write_note']);
    for (const name of ['list_notes', 'read_note', 'search_notes']) {
      expect(byName.get(name)?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    }
    expect(byName.get('write_note')?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
    });
    expect(byName.get('delete_note')?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    for (const tool of tools) {
      expect(tool.title).toBeTruthy();
      expect(tool.description).toBeTruthy();
      expect(tool.outputSchema).toBeDefined();
    }
    expect(byName.get('read_note')?.inputSchema.properties?.['name']).toMatchObject({ type: 'string' });
  });

  it('writes, reads, lists, searches and deletes notes', async () => {
    const created = await call('write_note', { name: 'plan.md', content: 'Ship the gateway\nthen audit it' });
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ name: 'plan.md', created: true, size: 30 });
    expect(await readFile(join(dir, 'plan.md'), 'utf8')).toBe('Ship the gateway\nthen audit it');

    const replaced = await call('write_note', { name: 'plan.md', content: 'Ship the gateway\nthen AUDIT it' });
    expect(replaced.structuredContent).toMatchObject({ created: false });
    await call('write_note', { name: 'other_note-1', content: 'unrelated' });

    const read = await call('read_note', { name: 'plan.md' });
    expect(text(read)).toBe('Ship the gateway\nthen AUDIT it');
    expect(read.structuredContent).toMatchObject({ name: 'plan.md', content: 'Ship the gateway\nthen AUDIT it' });

    const listed = await call('list_notes');
    const names = (listed.structuredContent as { notes: { name: string }[] }).notes.map((n) => n.name);
    expect(names).toEqual(['other_note-1', 'plan.md']);

    const search = await call('search_notes', { query: 'audit' });
    expect(search.structuredContent).toEqual({
      query: 'audit',
      hits: [{ name: 'plan.md', nameMatched: false, lines: [{ line: 2, text: 'then AUDIT it' }] }],
    });
    const byName = await call('search_notes', { query: 'OTHER' });
    expect(byName.structuredContent).toMatchObject({ hits: [{ name: 'other_note-1', nameMatched: true }] });
    const none = await call('search_notes', { query: 'nothing-like-this' });
    expect(none.structuredContent).toEqual({ query: 'nothing-like-this', hits: [] });

    const deleted = await call('delete_note', { name: 'other_note-1' });
    expect(deleted.structuredContent).toEqual({ name: 'other_note-1', deleted: true });
    expect(existsSync(join(dir, 'other_note-1'))).toBe(false);

    const again = await call('delete_note', { name: 'other_note-1' });
    expect(again.isError).toBe(true);
    expect(text(again)).toMatch(/not found/);
    const missing = await call('read_note', { name: 'other_note-1' });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/"other_note-1" not found/);
  });

  it.each([
    '../escape',
    '..',
    '.',
    '.hidden',
    'a/b',
    '/etc/passwd',
    'a\\b',
    '..%2fescape',
    '',
    'x'.repeat(65),
    'nul\u0000byte',
    'new\nline',
  ])('refuses the note name %j for read, write and delete', async (name) => {
    for (const [tool, args] of [
      ['read_note', { name }],
      ['write_note', { name, content: 'pwned' }],
      ['delete_note', { name }],
    ] as const) {
      const result = await call(tool, args);
      expect(result.isError, `${tool} ${JSON.stringify(name)}`).toBe(true);
    }
    expect(await readdir(root.path)).toEqual(['notes']);
  });

  it('never follows a symbolic link out of the folder', async () => {
    const secret = join(root.path, 'secret.txt');
    await writeFile(secret, 'top secret');
    await symlink(secret, join(dir, 'link'));
    try {
      const read = await call('read_note', { name: 'link' });
      expect(read.isError).toBe(true);
      expect(text(read)).toMatch(/not a regular file/);
      const listed = await call('list_notes');
      expect(JSON.stringify(listed.structuredContent)).not.toContain('link');
      const search = await call('search_notes', { query: 'secret' });
      expect(search.structuredContent).toMatchObject({ hits: [] });
    } finally {
      await call('delete_note', { name: 'link' }); // refused: not a regular file
      expect(await readFile(secret, 'utf8')).toBe('top secret');
    }
  });

  it('caps note content at 256 KiB of UTF-8', async () => {
    const tooManyChars = await call('write_note', { name: 'big', content: 'a'.repeat(256 * 1024 + 1) });
    expect(tooManyChars.isError).toBe(true);
    // Fewer characters than the cap but more bytes: the byte check in the store refuses it.
    const tooManyBytes = await call('write_note', { name: 'big', content: 'é'.repeat(128 * 1024 + 1) });
    expect(tooManyBytes.isError).toBe(true);
    expect(text(tooManyBytes)).toMatch(/262146 bytes; the limit is 262144 bytes/);
    expect(existsSync(join(dir, 'big'))).toBe(false);
    const atCap = await call('write_note', { name: 'big', content: 'a'.repeat(256 * 1024) });
    expect(atCap.isError).toBeFalsy();
    await call('delete_note', { name: 'big' });
  });

  it('exposes notes as resources and announces list changes', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([expect.objectContaining({ name: 'note', uriTemplate: 'note://{name}' })]);

    const before = listChanged;
    await call('write_note', { name: 'resource-note', content: 'as a resource' });
    await waitFor(() => listChanged > before, 'notifications/resources/list_changed after create');

    const { resources } = await client.listResources();
    expect(resources).toContainEqual(expect.objectContaining({ uri: 'note://resource-note', name: 'resource-note' }));
    const read = await client.readResource({ uri: 'note://resource-note' });
    expect(read.contents).toEqual([{ uri: 'note://resource-note', mimeType: 'text/plain', text: 'as a resource' }]);

    await expect(client.readResource({ uri: 'note://does-not-exist' })).rejects.toMatchObject({ code: -32002 });
    await expect(client.readResource({ uri: 'note://..' })).rejects.toThrow();

    const afterCreate = listChanged;
    await call('delete_note', { name: 'resource-note' });
    await waitFor(() => listChanged > afterCreate, 'notifications/resources/list_changed after delete');
  });

  it('offers a summarize_note prompt that attaches the note', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(['summarize_note']);
    await call('write_note', { name: 'minutes', content: 'Decided: ship on Friday.' });
    const prompt = await client.getPrompt({ name: 'summarize_note', arguments: { name: 'minutes' } });
    expect(prompt.messages).toHaveLength(2);
    expect(prompt.messages[1]?.content).toEqual({
      type: 'resource',
      resource: { uri: 'note://minutes', mimeType: 'text/plain', text: 'Decided: ship on Friday.' },
    });
    await expect(client.getPrompt({ name: 'summarize_note', arguments: { name: 'missing' } })).rejects.toThrow();
    await expect(client.getPrompt({ name: 'summarize_note', arguments: { name: '../x' } })).rejects.toThrow();
  });

  it('exits when its client closes', async () => {
    const second = await connect(dir);
    const pid = second.transport.pid;
    expect(pid).toBeTypeOf('number');
    expect(isAlive(pid as number)).toBe(true);
    await second.client.close();
    await waitForExit(pid as number);
  });

  it('exits with code 0 on end of stdin, without being signalled', async () => {
    const child = spawn(process.execPath, [NOTES_MAIN, '--dir', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    await waitFor(() => stderr.includes('serving notes'), 'notes server start');
    child.stdin.end();
    expect(await exited).toEqual([0, null]);
    expect(stderr).toContain('stdin closed');
    expect(isAlive(child.pid as number)).toBe(false);
  });

  it('keeps stdout for protocol messages and refuses bad arguments with exit code 2', async () => {
    const child = spawn(process.execPath, [NOTES_MAIN, '--bogus'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/usage: notes/);
  });
});
