import { EscapeScrubber, mapStrings, stripEscapes } from '../pipeline/scrub.js';
import type { Scrubber } from '../pipeline/stages.js';
import { secretRedactor, type SecretRedactor } from './redactor.js';

/** Escapes removed, then every secret value this process resolved (in every encoding) replaced: one walk. */
export class SecretScrubber implements Scrubber {
  private readonly escapes = new EscapeScrubber();

  constructor(private readonly redactor: SecretRedactor = secretRedactor) {}

  scrubResult<T>(value: T): T {
    if (!this.redactor.active) return this.escapes.scrubResult(value);
    return mapStrings(value, (text) => this.redactor.redact(stripEscapes(text))) as T;
  }
}
