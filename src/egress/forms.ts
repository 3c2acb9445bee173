import type { Pattern } from './literals.js';

/**
 * The forms a value takes on its way out, as literal patterns: as is, JSON-escaped, URL-encoded
 * (component, URI and form), hex, and for base64 and base64url the stable core of its encoding at each
 * of the three byte alignments, so the value is found inside the encoding of any longer string that
 * contains it (`base64("k" + secret)`, base64 of a JSON object holding it). Precomputed once per value:
 * text is never decoded and rescanned.
 */
export function valueForms(value: string): Pattern[] {
  const bytes = Buffer.from(value, 'utf8');
  // A base64 core ends one character short of the value's last bits: that character (and padding) goes too.
  const b64 = cores(bytes, 'base64').map((text) => ({ text, extend: B64_LAST }));
  const b64url = cores(bytes, 'base64url').map((text) => ({ text, extend: B64URL_LAST }));
  // Made only of characters no escaping touches (a minted signature, base64url): JSON and the three URL
  // encodings are the value itself, so they are not built (their encoders cost about 2 µs a value).
  const plain = UNESCAPED.test(value)
    ? [value, bytes.toString('hex')]
    : [
        value,
        jsonEscaped(value),
        encodeURIComponent(value),
        encodeURI(value),
        new URLSearchParams({ v: value }).toString().slice(2),
        bytes.toString('hex'),
      ];
  return dedupe([...plain.map((text) => ({ text })), ...b64, ...b64url]);
}

/** Characters that JSON strings, encodeURIComponent, encodeURI and form encoding all leave as they are. */
const UNESCAPED = /^[A-Za-z0-9_.*-]*$/;

// Shared by every pattern (sticky: the matcher sets lastIndex before each exec): one regex, not one per form.
const B64_LAST = /[A-Za-z0-9+/]?={0,2}/y;
const B64URL_LAST = /[A-Za-z0-9_-]?/y;

/**
 * The same forms for the constant beginning of a family of tokens (minted credentials: their signed
 * header; their payload's fixed claims): each matches on through the characters of that encoding.
 */
export function prefixForms(prefix: string): Pattern[] {
  const bytes = Buffer.from(prefix, 'utf8');
  const b64 = cores(bytes, 'base64').map((text) => ({ text, extend: /[A-Za-z0-9+/=]*/y }));
  const b64url = cores(bytes, 'base64url').map((text) => ({ text, extend: /[A-Za-z0-9_-]*/y }));
  return dedupe([
    { text: prefix, extend: /[A-Za-z0-9._~+/=-]*/y },
    { text: jsonEscaped(prefix), extend: /[A-Za-z0-9._~+/=-]*/y },
    { text: encodeURIComponent(prefix), extend: /[A-Za-z0-9._~%-]*/y },
    { text: bytes.toString('hex'), extend: /[0-9a-fA-F]*/y },
    ...b64,
    ...b64url,
  ]);
}

/** The value as it appears inside a JSON string literal (a log line, a JSON text in a result). */
function jsonEscaped(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

/**
 * For a value placed k = 0, 1, 2 bytes past a 3-byte boundary, the characters of the encoding that
 * depend on the value's bits alone (character i covers bits 6i to 6i+6): whatever surrounds the value,
 * those characters appear in the encoding.
 */
function cores(bytes: Buffer, encoding: 'base64' | 'base64url'): string[] {
  // The value after two zero bytes, once: its encoding from byte 2 - k is the value placed k bytes past a boundary.
  const padded = Buffer.alloc(bytes.length + 2);
  bytes.copy(padded, 2);
  return [0, 1, 2].map((k) => {
    const encoded = padded.toString(encoding, 2 - k);
    return encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
  });
}

/**
 * Distinct patterns, each text a string of its own: a slice of a longer string (the token a signature
 * was split from, a whole encoding a core was cut from) would keep that longer string alive for as long
 * as the pattern is remembered. About ten patterns: compared pairwise, not hashed into a Set.
 */
function dedupe(patterns: Pattern[]): Pattern[] {
  const distinct: Pattern[] = [];
  for (const p of patterns) if (!distinct.some((q) => q.text === p.text)) distinct.push(p);
  const texts = detachAll(distinct.map((p) => p.text));
  return distinct.map((p, i) => ({ ...p, text: texts[i]! }));
}

/**
 * Each ASCII text copied into a string of its own through one Buffer (one allocation for them all: a
 * Buffer each cost about as much as the rest of the forms); other texts are left as they are.
 */
function detachAll(texts: string[]): string[] {
  let total = 0;
  for (const text of texts) total += text.length;
  const buffer = Buffer.allocUnsafe(total);
  let at = 0;
  return texts.map((text) => {
    if (Buffer.byteLength(text, 'utf8') !== text.length) return text;
    const end = at + buffer.write(text, at, 'latin1');
    const copy = buffer.toString('latin1', at, end);
    at = end;
    return copy;
  });
}

export const detach = (text: string): string => detachAll([text])[0]!;
