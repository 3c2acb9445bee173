import { parentPort, workerData } from 'node:worker_threads';
import { recordedRequests } from '../audit/replay-source.js';
import { openAuditDb } from '../audit/store.js';
import { compilePolicy } from '../policy/compile.js';
import { parsePolicyText } from '../policy/load.js';
import { replayRecorded } from '../policy/replay.js';
import type { ImpactJob } from './impact.js';

// The "Policy impact" replay, off the console's (and the gateway's) event loop: its own read-only
// connection, the proposed policy compiled again here (it was validated before the worker started).
const job = workerData as ImpactJob;
const db = openAuditDb(job.file, { readonly: true });
try {
  db.pragma('mmap_size = 4294967296');
  const policy = compilePolicy([{ label: job.label, data: parsePolicyText(job.policy, job.label) }]);
  parentPort!.postMessage({ ok: true, report: replayRecorded(policy, recordedRequests(db, job.filter), job.perGroup) });
} catch (error) {
  parentPort!.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) });
} finally {
  db.close();
}
