import { localPrincipal, type Principal } from './principal.js';

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403 | 503; message: string; headers?: Record<string, string> };

/** Turns the credential a request carries into a verified principal. Never trusts caller-asserted identity. */
export interface RequestAuthenticator {
  readonly mode: string;
  authenticate(credential: { authorization?: string | undefined }): Promise<AuthResult>;
}

/**
 * The explicit development mode: every request is the one configured local principal, marked
 * `unauthenticated-local` wherever it is recorded.
 */
export class LocalAuthenticator implements RequestAuthenticator {
  readonly mode = 'unauthenticated-local';
  private readonly principal: Principal;

  constructor(subject: string) {
    this.principal = localPrincipal(subject);
  }

  async authenticate(): Promise<AuthResult> {
    return { ok: true, principal: this.principal };
  }
}
