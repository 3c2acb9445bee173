/**
 * Errors the gateway raises about itself. Callers switch on `code`, never on message text.
 * Errors that cross the wire to an agent are built from denials (pipeline/denial.ts), not from these.
 */
export type WardenErrorCode =
  | 'ERR_CONFIG_NOT_FOUND'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONFIG_INTERPOLATION'
  | 'ERR_USAGE'
  | 'ERR_NAME_COLLISION'
  | 'ERR_DOWNSTREAM_LAUNCH'
  | 'ERR_DOWNSTREAM_UNAVAILABLE'
  | 'ERR_UNSAFE_STARTUP'
  | 'ERR_LISTEN'
  | 'ERR_KEYS_MISSING'
  | 'ERR_KEYS_INVALID'
  | 'ERR_KEYS_EXIST'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_AUDIT_INVALID'
  | 'ERR_POLICY_INVALID'
  | 'ERR_POLICY_TEST_FAILED'
  | 'ERR_STATE_UNAVAILABLE'
  | 'ERR_TASK_NOT_FOUND'
  | 'ERR_PIN_NOT_FOUND'
  | 'ERR_PIN_AMBIGUOUS'
  | 'ERR_PIN_CHANGED'
  | 'ERR_PIN_NOTHING_TO_APPROVE'
  | 'ERR_PIN_NOTHING_TO_REJECT'
  | 'ERR_APPROVAL_NOT_FOUND'
  | 'ERR_APPROVAL_CLOSED'
  | 'ERR_JSON_TOO_DEEP';

export class WardenError extends Error {
  readonly code: WardenErrorCode;

  constructor(code: WardenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WardenError';
    this.code = code;
  }
}

export function isWardenError(value: unknown, code?: WardenErrorCode): value is WardenError {
  return value instanceof WardenError && (code === undefined || value.code === code);
}
