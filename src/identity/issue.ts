import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose/jwt/sign';
import { WardenError } from '../errors.js';
import { checkDelegation, type ActorClaim, type WardenClaims } from './claims.js';
import { KEY_ALG, type KeyStore } from '../state/keys.js';
import type { TokenVerifier } from './verify.js';

export interface IssueRequest {
  subject: string;
  ttlSeconds: number;
  taskPurpose?: string;
  grants?: readonly string[];
  scopes?: readonly string[];
  tenant?: string;
  clientId?: string;
  /** A token of the built-in issuer to delegate from: the new one may only narrow it. */
  parent?: string;
}

export interface IssuerSettings {
  issuer: string;
  audience: string;
  maxLifetimeSeconds: number;
}

/** Signs a token with the gateway's active key. Delegations are checked here and again at verification. */
export async function issueToken(
  keys: KeyStore,
  settings: IssuerSettings,
  request: IssueRequest,
  verifier: TokenVerifier,
  now: number,
): Promise<{ token: string; claims: WardenClaims }> {
  if (!/^[\x21-\x7e]{1,256}$/.test(request.subject))
    throw new WardenError('ERR_TOKEN_INVALID', '--sub must be 1-256 printable ASCII characters');
  if (request.ttlSeconds <= 0 || request.ttlSeconds > settings.maxLifetimeSeconds) {
    throw new WardenError(
      'ERR_TOKEN_INVALID',
      `--ttl must be between 1 s and the maximum token lifetime (${settings.maxLifetimeSeconds} s)`,
    );
  }
  const iat = Math.floor(now / 1000);
  const claims: WardenClaims = {
    iss: settings.issuer,
    sub: request.subject,
    aud: settings.audience,
    iat,
    nbf: iat,
    exp: iat + request.ttlSeconds,
    jti: randomUUID(),
    ...(request.tenant !== undefined && { tenant: request.tenant }),
    ...(request.clientId !== undefined && { azp: request.clientId }),
    ...(request.scopes && request.scopes.length > 0 && { scope: request.scopes.join(' ') }),
  };
  if (request.taskPurpose !== undefined || (request.grants && request.grants.length > 0)) {
    claims.task = {
      id: `task_${randomBytes(9).toString('base64url')}`,
      ...(request.taskPurpose !== undefined && { purpose: request.taskPurpose }),
      ...(request.grants && { grants: [...request.grants] }),
    };
  }
  if (request.parent !== undefined) {
    const parent = await verifier.verify(request.parent);
    if (!parent.ok)
      throw new WardenError('ERR_TOKEN_INVALID', `--parent: the parent token is not valid (${parent.reason})`);
    const p = parent.principal;
    if (p.issuer !== settings.issuer)
      throw new WardenError('ERR_TOKEN_INVALID', '--parent: only tokens of the built-in issuer can be delegated here');
    const act: ActorClaim = {
      sub: p.subject,
      ...(p.expiresAt !== undefined && { exp: Math.floor(p.expiresAt / 1000) }),
      ...(p.issuedAt !== undefined && { iat: Math.floor(p.issuedAt / 1000) }),
      ...(p.tokenId !== undefined && { jti: p.tokenId }),
      ...(p.task !== undefined && { task_id: p.task.id }),
    };
    if (p.task?.grants) act.grants = [...p.task.grants];
    const parentAct = parentActor(request.parent);
    if (parentAct) act.act = parentAct;
    claims.act = act;
    // A delegation without its own grants or purpose inherits the parent's (it can only narrow them).
    if (!claims.task && p.task)
      claims.task = {
        id: `task_${randomBytes(9).toString('base64url')}`,
        ...(p.task.grants && { grants: [...p.task.grants] }),
      };
    if (claims.task && request.taskPurpose === undefined && p.task?.purpose !== undefined)
      claims.task.purpose = p.task.purpose;
    const grants = claims.task?.grants as string[] | undefined;
    const refusal = checkDelegation(
      claims,
      claims.task ? { id: String(claims.task.id), ...(grants && { grants }) } : undefined,
    );
    if (refusal) throw new WardenError('ERR_TOKEN_INVALID', `--parent: ${refusal}`);
  }
  const { kid, privateKey } = await keys.active();
  const token = await new SignJWT(claims).setProtectedHeader({ alg: KEY_ALG, kid, typ: 'JWT' }).sign(privateKey);
  return { token, claims };
}

function parentActor(token: string): ActorClaim | undefined {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as WardenClaims;
  return payload.act;
}

/** Parses 90, 90s, 15m, 2h, 1d into seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new WardenError('ERR_USAGE', `not a duration: "${text}" (use e.g. 90s, 15m, 2h)`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
