import { MIN_SECRET_LENGTH } from '../pipeline/stages.js';
import { LiteralSet, type Pattern } from './literals.js';
import { detach, prefixForms, valueForms } from './forms.js';

export const REDACTED = '[REDACTED]';
/** Expiring values (minted signatures, one per call) remembered at once: past this the oldest are forgotten. */
const MAX_EXPIRING = 4096;

/**
 * Every value that must not leave, in every form (src/egress/forms.ts), removed from text in one pass.
 * Only the egress stage (src/egress/egress.ts) holds one; lint forbids importing this file elsewhere.
 */
export class SecretRedactor {
  /** Counts how many remembered values share each pattern. */
  private readonly set = new LiteralSet();
  private readonly kept = new Set<string>();
  /**
   * Values that stop being valid, in the order they were remembered (a Map keeps insertion order; a value
   * already held is not moved): past MAX_EXPIRING the oldest is forgotten, and its patterns with it.
   */
  private readonly expiring = new Map<string, { expiresAt: number; forms: readonly string[] }>();
  /** The last minted header prefix remembered: the gateway's signing key rarely changes, so it is seldom new. */
  private lastHeader = '';
  /** The same for the payload's constant beginning (the gateway's `act` claim). */
  private lastPayloadPrefix = '';

  constructor(private readonly now: () => number = Date.now) {}

  get active(): boolean {
    return this.set.size > 0;
  }

  /** A value kept until the process ends, or until `expiresAt` (ms) for one that stops being valid. */
  remember(value: string, expiresAt?: number): void {
    if (value.length < MIN_SECRET_LENGTH || this.kept.has(value)) return;
    this.prune();
    if (expiresAt === undefined) {
      this.kept.add(value);
      this.add(valueForms(value));
      return;
    }
    if (this.expiring.has(value) || expiresAt <= this.now()) return;
    const patterns = valueForms(value);
    this.add(patterns);
    // Its own string, not a slice that keeps the whole token alive until it expires (the first form is
    // the value itself, already copied).
    const own = patterns[0]?.text === value ? patterns[0].text : detach(value);
    this.expiring.set(own, { expiresAt, forms: patterns.map((p) => p.text) });
    if (this.expiring.size > MAX_EXPIRING) this.drop(this.expiring.keys().next().value!);
  }

  /** Every text that starts with `prefix` (in each form) and goes on in that form's characters. */
  rememberPrefix(prefix: string): void {
    if (prefix.length < MIN_SECRET_LENGTH || this.kept.has(`prefix:${prefix}`)) return;
    this.kept.add(`prefix:${prefix}`);
    this.add(prefixForms(prefix));
  }

  /**
   * A credential this process minted (a JWT): the whole token and its header by the header's family
   * pattern, the payload by its constant beginning (the gateway's own `act` claim), and the signature
   * on its own until the token expires. Each segment is covered alone, so no fragment rebuilds it.
   */
  rememberMinted(token: string): void {
    const [header, payload, signature] = token.split('.');
    if (header === undefined || payload === undefined || signature === undefined) return this.remember(token);
    if (header !== this.lastHeader) {
      this.rememberPrefix(`${header}.`);
      this.lastHeader = detach(header);
    }
    const claims = decodeClaims(payload);
    const expiresAt = typeof claims?.json.exp === 'number' ? claims.json.exp * 1000 : this.now() + 5 * 60_000;
    const fixed = claims?.text.startsWith('{"act":') ? claims.text.slice(0, claims.text.indexOf('},') + 2) : '';
    if (fixed.length >= 12) {
      const prefix = payload.slice(0, Math.floor((8 * Buffer.byteLength(fixed)) / 6));
      if (prefix !== this.lastPayloadPrefix) {
        this.rememberPrefix(prefix);
        this.lastPayloadPrefix = detach(prefix);
      }
    } else this.remember(payload, expiresAt);
    this.remember(signature, expiresAt);
  }

  redact(text: string): string {
    return this.set.replace(text, REDACTED);
  }

  private add(patterns: readonly Pattern[]): void {
    for (const pattern of patterns) this.set.add(pattern);
  }

  private forget(forms: readonly string[]): void {
    for (const text of forms) this.set.delete(text);
  }

  private drop(value: string): void {
    const entry = this.expiring.get(value);
    if (entry === undefined) return;
    this.expiring.delete(value);
    this.forget(entry.forms);
  }

  /** Expired values go, oldest first (values are remembered in about the order they expire). */
  private prune(): void {
    const now = this.now();
    for (const [value, entry] of this.expiring) {
      if (entry.expiresAt > now) break;
      this.drop(value); // deleting the entry being visited is safe in a Map's iteration
    }
  }
}

function decodeClaims(segment: string): { text: string; json: Record<string, unknown> } | undefined {
  try {
    const text = Buffer.from(segment, 'base64url').toString('utf8');
    const json = JSON.parse(text) as unknown;
    return json !== null && typeof json === 'object' ? { text, json: json as Record<string, unknown> } : undefined;
  } catch {
    return undefined;
  }
}
