import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';
const raw = new WeakMap<SecretValue, string>();

/** A secret that cannot be printed: every conversion to text reads `[REDACTED]`. */
export class SecretValue {
  constructor(value: string) {
    raw.set(this, value);
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** The one place a raw value is read: at injection (secrets/injector.ts), and by the redactor that hides it. */
export function reveal(secret: SecretValue): string {
  const value = raw.get(secret);
  if (value === undefined) throw new Error('not a secret value');
  return value;
}
