import { ok, type Outcome } from '../pipeline/denial.js';
import type { Injection, SecretInjector } from '../pipeline/stages.js';

const EMPTY: Injection = Object.freeze({
  headers: Object.freeze({}),
  arguments: Object.freeze({}),
  used: Object.freeze([]),
});

/** The injector when no secrets are configured: every call carries nothing extra. */
export class NoSecrets implements SecretInjector {
  async inject(): Promise<Outcome<Injection>> {
    return ok(EMPTY);
  }
}
