import type { Authorizer, Decision } from '../pipeline/stages.js';

/**
 * The authorizer of the explicit `unauthenticated-local` development mode, used until a policy is
 * configured: it allows every tool, and says so in every decision it records.
 */
export class LocalDevAuthorizer implements Authorizer {
  authorize(): Decision {
    return { effect: 'allow', rule: 'local-dev', reason: 'unauthenticated local development mode: no policy in force' };
  }
}
