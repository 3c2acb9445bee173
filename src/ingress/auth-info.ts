import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Principal } from '../model/principal.js';

/** How the SDK carries a verified principal to request handlers (`extra.authInfo`); the token itself never. */
export function toAuthInfo(principal: Principal): AuthInfo {
  return {
    token: '',
    clientId: principal.clientId ?? principal.subject,
    scopes: [...principal.scopes],
    ...(principal.expiresAt !== undefined && { expiresAt: Math.floor(principal.expiresAt / 1000) }),
    extra: { principal },
  };
}
