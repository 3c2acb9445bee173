import { EscapeScrubber } from '../pipeline/scrub.js';
import type { Scrubber } from '../pipeline/stages.js';
import { secretRedactor, type SecretRedactor } from './redactor.js';

/** Escapes removed, then every secret value this process resolved (in every encoding) replaced. */
export class SecretScrubber implements Scrubber {
  private readonly escapes = new EscapeScrubber();

  constructor(private readonly redactor: SecretRedactor = secretRedactor) {}

  scrubResult<T>(value: T): T {
    return this.redactor.scrub(this.escapes.scrubResult(value));
  }
}
