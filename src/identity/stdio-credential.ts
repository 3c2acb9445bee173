import { readFileSync, statSync } from 'node:fs';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { WireError } from '../pipeline/denial.js';
import type { AuthFailureKind } from '../model/principal.js';
import type { Principal } from '../model/principal.js';
import type { TokenVerifier } from './verify.js';

export interface StdioCredentialOptions {
  /** `MCP_WARDEN_TOKEN`. */
  token?: string;
  /** `--token-file PATH`: re-read whenever it changes, so an external refresher can rotate tokens. */
  tokenFile?: string;
  /** Shown to the agent (and its person) when the token is missing or expired. */
  renewHint: string;
  /** Told of every refusal, as the HTTP authenticator tells of its own (metrics count them by kind). */
  onFailure?: (reason: string, kind: AuthFailureKind) => void;
}

/**
 * The identity of a stdio gateway: one token, verified exactly like an HTTP bearer token, checked
 * again on every request so an expired token stops calls at once.
 */
export class StdioCredential {
  private current: { token: string; principal: Principal } | undefined;
  private fileStamp: string | undefined;

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly options: StdioCredentialOptions,
    private readonly now: () => number = Date.now,
  ) {}

  async principal(): Promise<Principal> {
    const token = this.readToken();
    if (token === undefined)
      throw this.refuse(
        'no_credential',
        'no credential',
        `no token available${this.options.tokenFile ? ` in ${this.options.tokenFile}` : ''}`,
      );
    if (this.current?.token !== token) {
      const result = await this.verifier.verify(token);
      if (!result.ok) {
        this.current = undefined;
        throw this.refuse(
          result.kind,
          result.reason,
          result.kind === 'unavailable'
            ? 'the token keys are unavailable right now'
            : 'the token is invalid or expired',
        );
      }
      this.current = { token, principal: result.principal };
    }
    const principal = this.current.principal;
    if (principal.expiresAt !== undefined && principal.expiresAt <= this.now()) {
      // The verifier calls an expired token invalid (reason `expired`); so does this check, for a token that expired since.
      throw this.refuse('invalid', 'expired', `the token expired at ${new Date(principal.expiresAt).toISOString()}`);
    }
    return principal;
  }

  private readToken(): string | undefined {
    const file = this.options.tokenFile;
    if (file === undefined) return this.options.token?.trim() || undefined;
    try {
      const stat = statSync(file);
      const stamp = `${stat.mtimeMs}:${stat.size}`;
      if (stamp !== this.fileStamp || this.current === undefined) {
        this.fileStamp = stamp;
        const text = readFileSync(file, 'utf8').trim();
        return text || undefined;
      }
      return this.current.token;
    } catch {
      return undefined;
    }
  }

  /** Tells `onFailure` (kind and the verifier's reason, never the token), and makes the agent's error. */
  private refuse(kind: AuthFailureKind, reason: string, why: string): WireError {
    this.options.onFailure?.(reason, kind);
    return new WireError(ErrorCode.InvalidRequest, `Authentication required: ${why}. ${this.options.renewHint}`);
  }
}
