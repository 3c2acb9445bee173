import type { LoadedConfig } from '../config/load.js';
import { resolvePath } from '../config/load.js';
import type { Logger } from '../observe/logger.js';
import type { AuditSink } from '../pipeline/stages.js';
import { Governance } from './governance.js';
import type { PolicyFileRef } from './load.js';

/** The configured policy files, resolved against the config file's folder and labelled as written. */
export function policyFiles(loaded: LoadedConfig): PolicyFileRef[] {
  return (loaded.config.policy?.files ?? []).map((file) => ({ path: resolvePath(loaded.baseDir, file), label: file }));
}

/**
 * Opens policy and tasks when the config names policy files (a bad policy stops the start with file and
 * path). Without a policy: undefined, and in jwt mode a warning, since only token task grants then narrow.
 */
export function governanceFor(loaded: LoadedConfig, logger: Logger, events: Pick<AuditSink, 'event'>): Governance | undefined {
  const policy = loaded.config.policy;
  if (!policy) {
    if (loaded.config.auth?.mode === 'jwt') {
      logger.warn('no policy configured ("policy": {"files": [...]}): agents may use everything their token task grants, or everything when the token names none');
    }
    return undefined;
  }
  return Governance.open({ files: policyFiles(loaded), dataDir: loaded.dataDir, watch: policy.watch, logger: logger.child({ component: 'policy' }), events });
}
