import { Worker } from 'node:worker_threads';
import type { ReplayFilter } from '../audit/replay-read.js';
import { auditFile } from '../audit/store.js';
import { isWardenError } from '../errors.js';
import { compilePolicy } from '../policy/compile.js';
import { parsePolicyText } from '../policy/load.js';
import { CHANGE_LABELS, type AuditReplayReport } from '../policy/replay-report.js';
import { ApiError } from './api.js';

/** What the worker is given: the audit file, the proposed policy's text and the range. */
export interface ImpactJob {
  file: string;
  label: string;
  policy: string;
  filter: ReplayFilter;
  perGroup: number;
}

/** Changes listed per rule on the page (the counts are always complete). */
const PER_GROUP = 200;
const LABEL = 'proposed.yaml';
const MAX_POLICY_CHARS = 15_000;
/** A replay still running after this long is stopped (a pasted argument schema can hold a slow pattern). */
const REPLAY_TIMEOUT_MS = 10 * 60_000;

/**
 * The console's "Policy impact": a proposed policy replayed against the recorded requests, read-only
 * (the policy in force is never touched). The policy is validated here, so a bad one answers 400 with
 * the file's path of the problem; the replay runs in a worker thread, one at a time per console.
 */
export class PolicyImpact {
  private running = false;

  constructor(private readonly dataDir: string) {}

  async run(
    body: Record<string, unknown>,
  ): Promise<{ policy: { version: string }; filter: ReplayFilter; labels: typeof CHANGE_LABELS } & AuditReplayReport> {
    const text = body.policy;
    if (typeof text !== 'string' || text.trim() === '')
      throw new ApiError(400, 'policy is required: the text of a policy file (YAML or JSON)');
    if (text.length > MAX_POLICY_CHARS) throw new ApiError(400, `policy: at most ${MAX_POLICY_CHARS} characters`);
    const filter: ReplayFilter = {};
    const since = body.since;
    if (since !== undefined && since !== null) {
      if (typeof since !== 'number' || !Number.isInteger(since) || since < 0)
        throw new ApiError(400, 'since: must be a time in epoch milliseconds');
      filter.since = since;
    }
    for (const name of ['agent', 'server', 'tool'] as const) {
      const value = body[name];
      if (value === undefined || value === null || value === '') continue;
      if (typeof value !== 'string' || value.length > 256)
        throw new ApiError(400, `${name}: must be a string of at most 256 characters`);
      filter[name] = value;
    }
    let version: string;
    try {
      version = compilePolicy([{ label: LABEL, data: parsePolicyText(text, LABEL) }]).version;
    } catch (error) {
      if (isWardenError(error) && error.code === 'ERR_POLICY_INVALID') throw new ApiError(400, error.message);
      throw error;
    }
    if (this.running) throw new ApiError(429, 'a replay is already running; try again when it has finished');
    this.running = true;
    try {
      const job: ImpactJob = { file: auditFile(this.dataDir), label: LABEL, policy: text, filter, perGroup: PER_GROUP };
      const report = await runWorker(job);
      return { policy: { version }, filter, labels: CHANGE_LABELS, ...report };
    } finally {
      this.running = false;
    }
  }
}

function runWorker(job: ImpactJob): Promise<AuditReplayReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./impact-worker.js', import.meta.url), { workerData: job });
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(
        new ApiError(
          503,
          `the replay took longer than ${REPLAY_TIMEOUT_MS / 60_000} minutes and was stopped; narrow the range`,
        ),
      );
      void worker.terminate();
    }, REPLAY_TIMEOUT_MS);
    worker.once('message', (message: { ok: true; report: AuditReplayReport } | { ok: false; error: string }) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (message.ok) resolve(message.report);
      else reject(new Error(message.error));
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      if (!settled) reject(new Error(`policy replay worker exited with code ${code}`));
    });
  });
}
