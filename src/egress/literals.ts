import { MIN_SECRET_LENGTH } from '../pipeline/stages.js';
import { GramTable } from './gram-table.js';

/**
 * Finds many literal strings in text at a cost per character that does not grow with their number
 * (a regex alternation grows linearly: 50 values cost 10 ms per MB). Every pattern is at least
 * MIN_PATTERN characters long, so any occurrence covers a 4-character window starting at a multiple of
 * STEP; each pattern registers its windows at offsets 0..STEP-1, and the text is probed only at those
 * multiples. ASCII case is ignored (hex and percent-encodings come in both cases): that only widens a match.
 */
export const MIN_PATTERN = MIN_SECRET_LENGTH;
const GRAM = 4;
const STEP = MIN_PATTERN - GRAM + 1;
const TABLE_BITS = 20;

export interface Pattern {
  text: string;
  /** After the literal, the match goes on through characters this sticky regex accepts (a family of tokens). */
  extend?: RegExp;
}

const fold = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c);

function gramKey(text: string, at: number): number {
  // Four folded characters; above Latin-1 only the low byte counts (verification is exact).
  return (
    (fold(text.charCodeAt(at)) & 0xff) |
    ((fold(text.charCodeAt(at + 1)) & 0xff) << 8) |
    ((fold(text.charCodeAt(at + 2)) & 0xff) << 16) |
    ((fold(text.charCodeAt(at + 3)) & 0xff) << 24)
  );
}

const slotOf = (key: number): number => Math.imul(key, 0x9e3779b1) >>> (32 - TABLE_BITS);

function sameAt(text: string, at: number, pattern: string): boolean {
  if (at < 0 || at + pattern.length > text.length) return false;
  for (let j = 0; j < pattern.length; j++)
    if (fold(text.charCodeAt(at + j)) !== fold(pattern.charCodeAt(j))) return false;
  return true;
}

/**
 * Kept compact and cheap to change because thousands of patterns come and go: every minted credential
 * adds about 8 (its signature in each form) until it expires. A pattern is an id into parallel arrays;
 * each of its grams is one pair (gram, id × STEP + offset) in a typed-array multimap (./gram-table.ts),
 * so a pattern costs its text and a few array slots, and adding or forgetting one a few array writes
 * (docs/performance.md: memory, then issue 21's per-call cost).
 */
export class LiteralSet {
  private readonly texts: (string | undefined)[] = [];
  private readonly extend: (RegExp | undefined)[] = [];
  /** How many times each pattern was added: it goes when as many deletes have come. */
  private readonly uses: number[] = [];
  private readonly freeIds: number[] = [];
  private readonly ids = new Map<string, number>();
  private readonly byGram = new GramTable();
  /** The codes of one probe's gram (reused: a probe allocates nothing). */
  private readonly found: number[] = [];
  private readonly filter = new Uint32Array(1 << (TABLE_BITS - 5));
  /** Pairs deleted since the filter was last rebuilt (their grams' bits stay set until then). */
  private stale = 0;

  get size(): number {
    return this.ids.size;
  }

  /** Adds a pattern (or one more use of it); shorter than MIN_PATTERN it is ignored. */
  add(pattern: Pattern): void {
    const text = pattern.text;
    if (text.length < MIN_PATTERN) return;
    const known = this.ids.get(text);
    if (known !== undefined) {
      this.uses[known]! += 1;
      return;
    }
    const id = this.freeIds.pop() ?? this.texts.length;
    this.texts[id] = text;
    this.extend[id] = pattern.extend;
    this.uses[id] = 1;
    this.ids.set(text, id);
    for (let offset = 0; offset < STEP && offset + GRAM <= text.length; offset++) {
      const key = gramKey(text, offset);
      this.byGram.add(key, id * STEP + offset);
      const slot = slotOf(key);
      this.filter[slot >>> 5]! |= 1 << (slot & 31);
    }
  }

  /** One use of a pattern less; at none it is no longer matched. */
  delete(text: string): void {
    const id = this.ids.get(text);
    if (id === undefined) return;
    if ((this.uses[id]! -= 1) > 0) return;
    this.ids.delete(text);
    this.texts[id] = undefined;
    this.extend[id] = undefined;
    for (let offset = 0; offset < STEP && offset + GRAM <= text.length; offset++)
      if (this.byGram.delete(gramKey(text, offset), id * STEP + offset)) this.stale++;
    this.freeIds.push(id);
    // A deleted gram's bit only costs a Map lookup when probed, but minted credentials come and go for
    // as long as the process runs: rebuilt before stale bits could fill the filter.
    if (this.stale > Math.max(1 << 16, this.byGram.size)) this.rebuildFilter();
  }

  /** Every occurrence (and every overlap of occurrences) replaced by one `replacement`. */
  replace(text: string, replacement: string): string {
    if (this.ids.size === 0 || text.length < MIN_PATTERN) return text;
    let spans: number[] | undefined;
    const filter = this.filter;
    const last = text.length - GRAM;
    for (let i = 0; i <= last; i += STEP) {
      const key = gramKey(text, i);
      const slot = slotOf(key);
      if ((filter[slot >>> 5]! & (1 << (slot & 31))) === 0) continue;
      const count = this.byGram.codesOf(key, this.found);
      for (let k = 0; k < count; k++) spans = this.match(text, i, this.found[k]!, spans);
    }
    return spans ? cut(text, spans, replacement) : text;
  }

  /** The span of the pattern `code` names if it occurs with that gram at `i`, added to `spans`. */
  private match(text: string, i: number, code: number, spans: number[] | undefined): number[] | undefined {
    const id = Math.floor(code / STEP);
    const pattern = this.texts[id]!;
    const start = i - (code - id * STEP);
    if (!sameAt(text, start, pattern)) return spans;
    let end = start + pattern.length;
    const extend = this.extend[id];
    if (extend) {
      extend.lastIndex = end;
      if (extend.exec(text)) end = extend.lastIndex;
    }
    (spans ??= []).push(start, end);
    return spans;
  }

  private rebuildFilter(): void {
    this.filter.fill(0);
    this.byGram.eachGram((key) => {
      const slot = slotOf(key);
      this.filter[slot >>> 5]! |= 1 << (slot & 31);
    });
    this.stale = 0;
  }
}

/**
 * From this length node's Buffer#toString('latin1') returns an external string (its EXTERN_APEX): the
 * characters live outside V8's heap. A flat string this long made any other way (join, concatenation)
 * is a large object V8 maps fresh for each result, and on this VM its page faults cost about 3 µs per KB
 * (3.5 ms for 1 MB); a Buffer's memory is reused by malloc. Below it both ways cost the same.
 */
const EXTERNAL_FROM = 0xfbee9;

/** The text with the union of the spans (start, end pairs) replaced, one replacement per merged run. */
function cut(text: string, spans: number[], replacement: string): string {
  const pairs: [number, number][] = [];
  for (let k = 0; k < spans.length; k += 2) pairs.push([spans[k]!, spans[k + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const runs: [number, number][] = [];
  for (const [start, end] of pairs) {
    const run = runs[runs.length - 1];
    if (run && start <= run[1]) run[1] = Math.max(run[1], end);
    else runs.push([start, end]);
  }
  let length = text.length;
  for (const [start, end] of runs) length += replacement.length - (end - start);
  if (length >= EXTERNAL_FROM && isAscii(text) && isAscii(replacement))
    return cutIntoBuffer(text, runs, replacement, length);
  // Joined from parts: one flat string, not a chain of concatenations every later reader must flatten.
  const parts: string[] = [];
  let copied = 0;
  for (const [start, end] of runs) {
    parts.push(text.slice(copied, start), replacement);
    copied = end;
  }
  parts.push(text.slice(copied));
  return parts.join('');
}

/** The same flat text written into one Buffer and read back as a (latin1 = ASCII here) external string. */
function cutIntoBuffer(text: string, runs: [number, number][], replacement: string, length: number): string {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  let copied = 0;
  for (const [start, end] of runs) {
    at += out.write(text.slice(copied, start), at, 'latin1');
    at += out.write(replacement, at, 'latin1');
    copied = end;
  }
  at += out.write(text.slice(copied), at, 'latin1');
  return out.toString('latin1', 0, at);
}

/** Every character below U+0080 (so latin1 bytes are the characters themselves): its UTF-8 length is its length. */
const isAscii = (text: string): boolean => Buffer.byteLength(text, 'utf8') === text.length;
