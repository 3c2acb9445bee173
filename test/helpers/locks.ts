// "Another process has the database locked": a real second process holding a write transaction.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { auditFile } from '../../src/audit/store.js';

const HOLD_LOCK = join(import.meta.dirname, '../audit/fixtures/hold-lock.mjs');

/** Another process holding a write transaction on `<dataDir>/audit.db` until released. */
export async function holdAuditLock(dataDir: string): Promise<{ release(): Promise<void> }> {
  const holder: ChildProcess = spawn(process.execPath, [HOLD_LOCK, auditFile(dataDir)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => createInterface({ input: holder.stdout! }).once('line', () => resolve()));
  return {
    async release() {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.stdin!.end();
      await exited;
    },
  };
}
