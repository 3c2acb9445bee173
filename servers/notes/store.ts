import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';

/** A note name: starts with a letter or digit, then up to 63 of `A-Z a-z 0-9 . _ -`. */
export const NOTE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Largest note content accepted, in UTF-8 bytes. */
export const MAX_NOTE_BYTES = 256 * 1024;

export type NoteErrorCode = 'invalid_name' | 'not_found' | 'too_large' | 'not_a_file';

/** An error the notes server reports to its caller as a tool error. */
export class NoteError extends Error {
  readonly code: NoteErrorCode;

  constructor(code: NoteErrorCode, message: string) {
    super(message);
    this.name = 'NoteError';
    this.code = code;
  }
}

export interface NoteInfo {
  name: string;
  size: number;
  modified: string;
}

export interface Note extends NoteInfo {
  content: string;
}

export interface SearchHit {
  name: string;
  nameMatched: boolean;
  lines: { line: number; text: string }[];
}

const MAX_HIT_LINES = 5;
const MAX_LINE_CHARS = 200;

/**
 * Notes kept as plain files in one folder. Every path is derived from a validated name, resolved
 * and checked to stay inside the folder; symbolic links are never followed.
 */
export class NoteStore {
  private constructor(readonly dir: string) {}

  /** Opens (creating if missing) the notes folder. */
  static async open(dir: string): Promise<NoteStore> {
    const absolute = resolve(dir);
    await mkdir(absolute, { recursive: true, mode: 0o700 });
    return new NoteStore(await realpath(absolute));
  }

  /** Throws `invalid_name` unless `name` is a valid note name. */
  static checkName(name: string): void {
    if (!NOTE_NAME_PATTERN.test(name)) {
      throw new NoteError(
        'invalid_name',
        `invalid note name ${JSON.stringify(name.slice(0, 80))}: use 1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit`,
      );
    }
  }

  /** The file path for a note, after checking the name and that the path stays inside the folder. */
  pathOf(name: string): string {
    NoteStore.checkName(name);
    const path = resolve(this.dir, name);
    const rel = relative(this.dir, path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.includes('/') || rel.includes('\\')) {
      throw new NoteError('invalid_name', `invalid note name ${JSON.stringify(name)}: outside the notes folder`);
    }
    return path;
  }

  async list(): Promise<NoteInfo[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const notes: NoteInfo[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !NOTE_NAME_PATTERN.test(entry.name)) continue;
      const info = await this.stat(entry.name).catch(() => undefined);
      if (info) notes.push(info);
    }
    return notes.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Returns whether a note exists; throws `invalid_name` for a bad name. */
  async exists(name: string): Promise<boolean> {
    try {
      await this.stat(name);
      return true;
    } catch (error) {
      if (error instanceof NoteError && error.code === 'not_found') return false;
      throw error;
    }
  }

  async read(name: string): Promise<Note> {
    const path = this.pathOf(name);
    // O_NOFOLLOW: a symbolic link swapped in after validation is refused, not followed.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: unknown) => {
      throw isMissing(error) ? notFound(name) : isSymlinkRefusal(error) ? notAFile(name) : error;
    });
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw notAFile(name);
      if (stats.size > MAX_NOTE_BYTES) {
        throw new NoteError('too_large', `note ${JSON.stringify(name)} is larger than ${MAX_NOTE_BYTES} bytes`);
      }
      const content = await handle.readFile({ encoding: 'utf8' });
      return { name, size: stats.size, modified: stats.mtime.toISOString(), content };
    } finally {
      await handle.close();
    }
  }

  /** Writes a note atomically (temp file, then rename). Returns whether it was newly created. */
  async write(name: string, content: string): Promise<{ info: NoteInfo; created: boolean }> {
    const path = this.pathOf(name);
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > MAX_NOTE_BYTES) {
      throw new NoteError('too_large', `note content is ${bytes} bytes; the limit is ${MAX_NOTE_BYTES} bytes`);
    }
    const created = !(await this.exists(name));
    // A leading dot never matches NOTE_NAME_PATTERN, so temp files never show up as notes.
    const temp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await writeFile(temp, content, { encoding: 'utf8', mode: 0o600, flag: 'wx' });
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return { info: await this.stat(name), created };
  }

  async delete(name: string): Promise<void> {
    await this.stat(name);
    await unlink(this.pathOf(name)).catch((error: unknown) => {
      throw isMissing(error) ? notFound(name) : error;
    });
  }

  /** Case-insensitive substring search over note names and contents. */
  async search(query: string, limit: number): Promise<SearchHit[]> {
    const needle = query.toLowerCase();
    const hits: SearchHit[] = [];
    for (const info of await this.list()) {
      if (hits.length >= limit) break;
      const note = await this.read(info.name).catch(() => undefined);
      if (!note) continue;
      const lines: SearchHit['lines'] = [];
      const all = note.content.split(/\r?\n/);
      for (let i = 0; i < all.length && lines.length < MAX_HIT_LINES; i++) {
        const text = all[i] ?? '';
        if (text.toLowerCase().includes(needle)) lines.push({ line: i + 1, text: text.slice(0, MAX_LINE_CHARS) });
      }
      const nameMatched = info.name.toLowerCase().includes(needle);
      if (nameMatched || lines.length > 0) hits.push({ name: info.name, nameMatched, lines });
    }
    return hits;
  }

  private async stat(name: string): Promise<NoteInfo> {
    const path = this.pathOf(name);
    const stats = await lstat(path).catch((error: unknown) => {
      throw isMissing(error) ? notFound(name) : error;
    });
    // Symbolic links, folders and devices are never treated as notes.
    if (!stats.isFile()) throw notAFile(name);
    return { name, size: stats.size, modified: stats.mtime.toISOString() };
  }
}

function notFound(name: string): NoteError {
  return new NoteError('not_found', `note ${JSON.stringify(name)} not found`);
}

function notAFile(name: string): NoteError {
  return new NoteError('not_a_file', `note ${JSON.stringify(name)} is not a regular file`);
}

function isSymlinkRefusal(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ELOOP';
}

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}
