import { globMatch } from '../model/glob.js';
import type { AuthorizeRequest, Authorizer, Decision } from '../pipeline/stages.js';

/**
 * The authorizer while no policy is configured: a verified principal may use what its token's task
 * grants name (globs over namespaced tool and prompt names, or resource URIs); a token without task
 * grants is not narrowed. Every decision names its rule so the record shows which case applied.
 */
export class TaskGrantAuthorizer implements Authorizer {
  authorize(request: AuthorizeRequest): Decision {
    const grants = request.principal.task?.grants;
    if (grants === undefined)
      return { effect: 'allow', rule: 'no-policy', reason: 'no policy configured; token carries no task grants' };
    const match = grants.find((grant) => globMatch(grant, request.target));
    const within = request.principal.task?.within;
    return match && (!within || within.some((grant) => globMatch(grant, request.target)))
      ? { effect: 'allow', rule: 'task-grant', reason: `task ${request.principal.task?.id} grants ${match}` }
      : { effect: 'deny', rule: 'task-grant', reason: `not within the task's grants` };
  }
}
