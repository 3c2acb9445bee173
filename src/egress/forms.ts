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
  const plain = [
    value,
    jsonEscaped(value),
    encodeURIComponent(value),
    encodeURI(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    bytes.toString('hex'),
  ];
  return dedupe([...plain.map((text) => ({ text })), ...b64, ...b64url]);
}

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
  return [0, 1, 2].map((k) => {
    const encoded = Buffer.concat([Buffer.alloc(k), bytes]).toString(encoding);
    return encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
  });
}

/**
 * Distinct patterns, each text a string of its own: a slice of a longer string (the token a signature
 * was split from, a whole encoding a core was cut from) would keep that longer string alive for as long
 * as the pattern is remembered.
 */
function dedupe(patterns: Pattern[]): Pattern[] {
  const seen = new Set<string>();
  return patterns.filter((p) => !seen.has(p.text) && seen.add(p.text)).map((p) => ({ ...p, text: detach(p.text) }));
}

export const detach = (text: string): string =>
  Buffer.byteLength(text, 'utf8') === text.length ? Buffer.from(text, 'latin1').toString('latin1') : text;
