import type { LoadedConfig } from '../config/load.js';
import { resolvePath } from '../config/load.js';
import type { PolicyFileRef } from './load.js';

/** The configured policy files, resolved against the config file's folder and labelled as written. */
export function policyFiles(loaded: LoadedConfig): PolicyFileRef[] {
  return (loaded.config.policy?.files ?? []).map((file) => ({ path: resolvePath(loaded.baseDir, file), label: file }));
}
