import type { ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { LineFramer } from './line-framer.js';
import { spawnInGroup, stopGroup } from './process-group.js';

export interface GroupStdioOptions {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string;
}

/**
 * The client side of a stdio server, started as the leader of its own process group
 * (src/downstream/process-group.ts). Closing it ends stdin, then signals the whole group, and
 * resolves only once the server and everything it started are gone.
 */
export class GroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The server's stderr, readable before start() so nothing written early is lost. */
  readonly stderr = new PassThrough();
  private child: ChildProcess | undefined;
  /** Over-long lines are skipped, not buffered; a too-large result becomes an error for its call only. */
  private readonly framer = new LineFramer({
    message: (message) => this.onmessage?.(message),
    invalid: (error) => this.onerror?.(error),
  });
  private closing: Promise<void> | undefined;

  constructor(private readonly options: GroupStdioOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Lets another client take over this started pipe (the `protocol: auto` probe hands a 2025 server's
   * pipe to the v1 client, client.ts): the handlers are dropped and the next start() is a no-op.
   */
  handOver(): void {
    this.onmessage = undefined;
    this.onerror = undefined;
    this.onclose = undefined;
    this.handedOver = true;
  }

  private handedOver = false;

  start(): Promise<void> {
    if (this.handedOver) {
      this.handedOver = false;
      return Promise.resolve();
    }
    if (this.child) throw new Error('stdio transport already started');
    return new Promise((resolve, reject) => {
      const child = spawnInGroup(this.options.command, this.options.args, {
        env: this.options.env,
        cwd: this.options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
      this.child = child;
      child.once('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.once('spawn', () => resolve());
      // The server exiting on its own may leave processes it started: they are stopped with it.
      child.once('exit', () => void this.stop());
      child.once('close', () => this.onclose?.());
      child.stdin?.on('error', (error) => this.onerror?.(error));
      child.stdout?.on('data', (chunk: Buffer) => this.framer.push(chunk));
      child.stdout?.on('error', (error) => this.onerror?.(error));
      child.stderr?.pipe(this.stderr);
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || this.closing) return Promise.reject(new Error('not connected'));
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /**
   * Whether the client asked for the close (the gateway ending a probe or a session), as opposed to the
   * server exiting on its own: what the server writes after that is expected, not news.
   */
  get closeRequested(): boolean {
    return this.requested;
  }

  private requested = false;

  /** Ends stdin, then SIGTERM and SIGKILL to the group; resolves once every process of it is gone. */
  close(): Promise<void> {
    this.requested = true;
    return this.stop();
  }

  private stop(): Promise<void> {
    const child = this.child;
    if (!child) return Promise.resolve();
    this.closing ??= stopGroup(child);
    return this.closing;
  }
}
