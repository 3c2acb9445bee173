import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isWardenError } from '../errors.js';
import type { CurrentPolicy } from './authorizer.js';
import type { CompiledPolicy } from './compile.js';
import { loadPolicy, type PolicyFileRef } from './load.js';

/** The policy in force. A reload replaces it with one assignment, so a decision sees one whole policy. */
export class PolicyHolder implements CurrentPolicy {
  private readonly listeners = new Set<(next: CompiledPolicy, previous: CompiledPolicy) => void>();

  constructor(private policy: CompiledPolicy) {}

  get current(): CompiledPolicy {
    return this.policy;
  }

  swap(next: CompiledPolicy): void {
    const previous = this.policy;
    this.policy = next;
    for (const listener of this.listeners) listener(next, previous);
  }

  onSwap(listener: (next: CompiledPolicy, previous: CompiledPolicy) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export type ReloadResult =
  { ok: true; changed: boolean; version: string; previous: string } | { ok: false; error: string; version: string };

/**
 * Watches the policy files' folders (editors often replace a file rather than write it in place) and,
 * after a quiet period, reloads all of them. A policy that does not load leaves the last good one in
 * force; one that does is swapped in whole.
 */
export class PolicyWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly files: readonly PolicyFileRef[],
    private readonly holder: PolicyHolder,
    private readonly onReload: (result: ReloadResult) => void,
    private readonly debounceMs = 150,
  ) {}

  start(): void {
    const byDir = new Map<string, Set<string>>();
    for (const file of this.files) {
      const names = byDir.get(dirname(file.path)) ?? new Set<string>();
      names.add(basename(file.path));
      byDir.set(dirname(file.path), names);
    }
    for (const [dir, names] of byDir) {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || names.has(String(filename))) this.schedule();
      });
      watcher.on('error', () => undefined);
      this.watchers.push(watcher);
    }
  }

  /** Reloads now (also what the watcher runs after its quiet period). */
  reload(): ReloadResult {
    const previous = this.holder.current.version;
    let next: CompiledPolicy;
    try {
      next = loadPolicy(this.files);
    } catch (error) {
      const message = isWardenError(error) ? error.message : `unexpected error: ${(error as Error).message}`;
      return { ok: false, error: message, version: previous };
    }
    if (next.version === previous) return { ok: true, changed: false, version: previous, previous };
    this.holder.swap(next);
    return { ok: true, changed: true, version: next.version, previous };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) this.onReload(this.reload());
    }, this.debounceMs);
    this.timer.unref();
  }
}
