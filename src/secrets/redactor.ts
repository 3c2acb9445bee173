import { mapStrings } from '../pipeline/scrub.js';

const REDACTED = '[REDACTED]';
/** Values shorter than this are not scrubbed (they would erase ordinary text); sources refuse them. */
export const MIN_SECRET_LENGTH = 8;
/** Remembered values (minted tokens are one per call): the oldest are forgotten past this. */
const MAX_VALUES = 4096;

/** The forms a value may take on its way back: as is, base64, base64url, hex and URL-encoded. */
export function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const b64 = bytes.toString('base64');
  const forms = [value, b64, b64.replace(/=+$/, ''), bytes.toString('base64url'), bytes.toString('hex'), bytes.toString('hex').toUpperCase(), encodeURIComponent(value), encodeURI(value)];
  return [...new Set(forms)].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * Every secret value this process resolved, in every encoding; replaces them with `[REDACTED]` in text
 * and in JSON-like values. One per process: logs, the audit store and agent payloads share it.
 */
export class SecretRedactor {
  private readonly values = new Map<string, string[]>();
  /** Constant beginnings of whole families of values (minted tokens: their signed header), as regex sources. */
  private readonly prefixes = new Map<string, string[]>();
  private pattern: RegExp | undefined;

  remember(value: string): void {
    if (value.length < MIN_SECRET_LENGTH || this.values.has(value)) return;
    this.values.set(value, encodings(value));
    if (this.values.size > MAX_VALUES) this.values.delete(this.values.keys().next().value as string);
    this.pattern = undefined;
  }

  /**
   * Every value that starts with `prefix` and continues in token characters is a secret: one pattern
   * covers every token minted with one key (their header is constant), so a per-call value does not
   * grow the pattern.
   */
  rememberPrefix(prefix: string): void {
    if (prefix.length < MIN_SECRET_LENGTH || this.prefixes.has(prefix)) return;
    this.prefixes.set(prefix, prefixPatterns(prefix));
    this.pattern = undefined;
  }

  get active(): boolean {
    return this.values.size > 0 || this.prefixes.size > 0;
  }

  redact(text: string): string {
    if (!this.active) return text;
    this.pattern ??= build([...this.prefixes.values()].flat(), [...this.values.values()].flat());
    return text.replace(this.pattern, REDACTED);
  }

  /** Scrubs every string (keys too) of a JSON-like value. */
  scrub<T>(value: T): T {
    if (!this.active) return value;
    return mapStrings(value, (text) => this.redact(text)) as T;
  }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A prefix and the rest of a token, in each encoding (base64 forms from the last whole 3-byte group). */
function prefixPatterns(prefix: string): string[] {
  const bytes = Buffer.from(prefix, 'utf8');
  const aligned = bytes.subarray(0, bytes.length - (bytes.length % 3));
  return [
    `${escape(prefix)}[A-Za-z0-9._~+/=-]*`,
    `${escape(aligned.toString('base64'))}[A-Za-z0-9+/=]*`,
    `${escape(aligned.toString('base64url'))}[A-Za-z0-9_-]*`,
    `${bytes.toString('hex')}[0-9a-f]*`,
    `${escape(encodeURIComponent(prefix))}[A-Za-z0-9._~%-]*`,
  ];
}

function build(patterns: string[], forms: string[]): RegExp {
  // Longest first, so a value is removed whole rather than one of its shorter encodings inside it.
  const sorted = [...new Set(forms)].sort((a, b) => b.length - a.length).map(escape);
  return new RegExp([...new Set(patterns), ...sorted].join('|'), 'gi');
}

/** The process's redactor. */
export const secretRedactor = new SecretRedactor();
