// Over 300 lines: one MRTR round kept whole (ask, hold, seal, retry, expire), each step short and in order.
// Multi-round-trip requests (MRTR) for 2026-07-28 agents calling servers that ask mid-call. A 2025
// downstream's sampling, elicitation or roots request, sent during a call, ends the agent's HTTP exchange
// with `input_required`: the request under a key, and a sealed `requestState`. The downstream call stays
// open in the pooled session; the agent's retry (same call, `inputResponses`, the state echoed) answers
// the waiting requests and waits on for the next round or the result. A retry whose call is gone (the
// gateway restarted, the pool was closed) runs the call again, answering each repeated request from the
// agent's answers by the digest of what it was asked.
//
// Each waiting request was recorded by the session's relay recorder under the call's record (intent
// when asked, outcome when answered), so every round is audited without anything here writing a row.
import { randomBytes } from 'node:crypto';
import type { MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { digestOf } from '../model/canonical.js';
import type { Clock } from '../model/clock.js';
import type { Principal } from '../model/principal.js';
import type { Answer, AskRefusal, InProcessTransport, ServerAsk } from './in-process-transport.js';
import type { RequestState, RequestStateSealer } from './request-state.js';
import { progressTokenOf, toStream, type Notify, type RequestStream } from './request-streams.js';
import type { SharedSpends } from '../state/shared.js';
import type { Denial } from '../pipeline/denial.js';

/** How long an agent has to answer a round: the downstream request waits this long, then is cancelled. */
export const ROUND_TTL_MS = 10 * 60_000;
/** 2026-07-28's MissingRequiredClientCapability: the request needs a capability the client did not declare. */
export const MISSING_CAPABILITY = -32021;

/** A server's inputRequests key the agent may be asked under as it is: 1-64 visible ASCII characters. */
const SOUND_KEY = /^[\x21-\x7e]{1,64}$/;

/** The input request kinds, by the client capability that must be declared for each. */
const KIND_OF: Record<string, string> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** Why a retry was refused: each is audited by the caller, then answered -32602 with `message`. */
export type RetryRefusal = 'malformed' | 'tampered' | 'foreign' | 'other_call' | 'expired' | 'replayed';

export interface Asked {
  askId: string | number;
  method: string;
  params: Record<string, unknown> | undefined;
  digest: string;
}

interface LiveCall {
  transport: InProcessTransport;
  id: string;
  done: Promise<Answer>;
  binding: Pick<RequestState, 'iss' | 'sub' | 'ten' | 'task' | 'dig'>;
  /** Kinds the agent declared on its latest request. */
  declared: ReadonlySet<string>;
  /** Kinds the server asked for that the agent had not declared (each refused to the server). */
  missing: Set<string>;
  /** Server requests waiting for the agent, by the key the agent answers them under. */
  asked: Map<string, Asked>;
  /** Answers carried over from a state whose call was gone, by the digest of what was asked. */
  preload: Map<string, unknown>;
  keys: number;
  round: number;
  /** The state handed out for the open round, when one is open. */
  sid: string | undefined;
  disarm: (() => void) | undefined;
  wake: (() => void) | undefined;
  /** The HTTP exchange waiting on the call now: its progress under that request's own token, its logs at its level. */
  stream: RequestStream | undefined;
}

export type { Notify } from './request-streams.js';

export interface CallRequest {
  transport: InProcessTransport;
  method: string;
  /** The request's params without the envelope keys (retry fields are removed here). */
  params: Record<string, unknown>;
  extra: MessageExtraInfo;
  signal: AbortSignal;
  principal: Principal;
  clientCapabilities: Record<string, unknown>;
  /** The agent request's own stream (its progress notifications). */
  notify?: Notify;
  /** `_meta`'s logLevel on this request: log messages at or above it go on its stream; none without it. */
  logLevel?: string;
}

export type RoundsOutcome =
  | { answer: Answer }
  | { refused: RetryRefusal; message: string }
  /** The shared store could not say whether the state was spent: refused, nothing forwarded (fail closed). */
  | { unavailable: string };

/**
 * How a refused retry is recorded and answered: `-32602` naming the failed check, or, when the store could
 * not say whether the state was spent, as the store being unavailable (fail closed).
 */
export function retryDenial(outcome: Exclude<RoundsOutcome, { answer: Answer }>): Denial {
  if ('unavailable' in outcome)
    return { kind: 'store_unavailable', reason: `requestState not checked: ${outcome.unavailable}` };
  return {
    kind: 'invalid_params',
    message: outcome.message,
    reason: `2026-07-28 retry refused (requestState ${outcome.refused}): ${outcome.message}`,
  };
}

/** Where spent states are recorded: the shared store (every replica), or this process's memory when absent. */
export type SpentStates = Pick<SharedSpends, 'spendOnce'>;

export class RequestRounds {
  /** Calls by their in-process request id (what a server request names as related). */
  private readonly calls = new Map<string, LiveCall>();
  /** Calls with an open round, by the state id handed out for it. */
  private readonly open = new Map<string, LiveCall>();
  /** State ids already presented, with their expiry: presented again before then is a replay (without a store). */
  private readonly spent = new Map<string, number>();

  constructor(
    private readonly sealer: RequestStateSealer,
    private readonly clock: Clock,
    /** The shared store's spent states: a state spent through any replica is a replay on every other. */
    private readonly spends?: SpentStates,
  ) {}

  /** Calls whose downstream request is being held for an agent's answer (the pool keeps their session). */
  holds(transport: InProcessTransport): boolean {
    for (const call of this.calls.values()) if (call.transport === transport) return true;
    return false;
  }

  /** The hook a pooled session's transport gives server→client requests to. */
  ask(relatedId: string, ask: ServerAsk): AskRefusal | undefined {
    const call = this.calls.get(relatedId);
    if (!call)
      return `${ask.method} reaches a 2026-07-28 agent only during a tools/call, prompts/get or resources/read`;
    const kind = KIND_OF[ask.method];
    if (kind === undefined) return `${ask.method} is not relayed to 2026-07-28 agents`;
    if (!call.declared.has(kind)) {
      // Refused to the server as 2026-07-28 words it; if the call then fails, the agent is told why.
      call.missing.add(kind);
      return missingCapability([kind]).error;
    }
    const digest = askDigest(ask.method, ask.params);
    if (call.preload.has(digest)) {
      // The call was run again: the agent already answered exactly this question.
      const result = call.preload.get(digest);
      call.preload.delete(digest);
      call.transport.answer(ask.id, { result: result as Record<string, unknown> });
      return undefined;
    }
    call.asked.set(this.keyFor(call, ask.key), { askId: ask.id, method: ask.method, params: ask.params, digest });
    call.wake?.();
    return undefined;
  }

  /**
   * A notification of a call: progress goes to the exchange waiting on it now, with that request's
   * progress token (a retry is a new request with a token of its own). A log message goes there only
   * when that request set a `logLevel` and the message is at that level or above.
   */
  notification(relatedId: string, notification: { method: string; params?: Record<string, unknown> }): void {
    const stream = this.calls.get(relatedId)?.stream;
    if (stream) toStream(stream, notification);
  }

  /**
   * The key the agent is asked under: a 2026 server's own key when it is a sound one (a bounded run of
   * visible ASCII, not already waiting in this call), else the gateway's next free `q1`, `q2`, …. The
   * key is only a label for the agent: the gateway answers the server by its own request id, and the
   * SDK v2 client files the answer under the server's key.
   */
  private keyFor(call: LiveCall, key: string | undefined): string {
    if (key !== undefined && SOUND_KEY.test(key) && !call.asked.has(key)) return key;
    let next: string;
    do next = `q${(call.keys += 1)}`;
    while (call.asked.has(next));
    return next;
  }

  /** A first request: runs it, and answers its result or its first round. */
  async start(request: CallRequest): Promise<Answer> {
    return this.wait(this.begin(request, new Map()), request);
  }

  /**
   * A retry (the request carries `requestState` or `inputResponses`): checks the state against this
   * request and its principal, then resumes the held call, or runs it again when it is gone.
   */
  async retry(request: CallRequest): Promise<RoundsOutcome> {
    const { requestState: sealed, inputResponses, ...params } = request.params;
    const plain = { ...request, params };
    if (typeof sealed !== 'string')
      return refuse('malformed', 'inputResponses were sent without the requestState of their round');
    if (inputResponses !== undefined && !isObject(inputResponses))
      return refuse('malformed', 'inputResponses must be an object of answers by key');
    const responses = (inputResponses ?? {}) as Record<string, unknown>;
    const state = this.sealer.open(sealed);
    if (!state) return refuse('tampered', 'requestState is not one this gateway sealed, or was altered');
    const p = request.principal;
    if (state.iss !== p.issuer || state.sub !== p.subject || state.ten !== (p.tenant ?? null))
      return refuse('foreign', 'requestState belongs to another principal');
    if (state.task !== (p.task?.id ?? null)) return refuse('foreign', 'requestState belongs to another task');
    if (state.dig !== callDigest(request.method, params))
      return refuse('other_call', 'requestState belongs to another call');
    const now = this.clock.now();
    if (state.exp <= now) return refuse('expired', 'requestState has expired; call again without it');
    const fresh = await this.spend(state.sid, state.exp, now);
    if (typeof fresh === 'string') return { unavailable: fresh };
    if (!fresh) return refuse('replayed', 'requestState was already used');

    const call = this.open.get(state.sid);
    if (call) {
      this.open.delete(state.sid);
      call.sid = undefined;
      call.disarm?.();
      call.declared = declaredKinds(request.clientCapabilities);
      for (const [key, asked] of call.asked) {
        if (!(key in responses)) continue; // not answered: asked again in the next round
        call.asked.delete(key);
        call.transport.answer(asked.askId, { result: responses[key] as Record<string, unknown> });
      }
      return { answer: await this.wait(call, request) };
    }
    // The held call is gone: run it again, each question it repeats answered as the agent answered it.
    const preload = new Map<string, unknown>();
    for (const [key, digest] of Object.entries(state.ask)) if (key in responses) preload.set(digest, responses[key]);
    return { answer: await this.wait(this.begin(plain, preload), plain) };
  }

  /** Whether the state id was spent now (false: spent before); a string says why the store could not tell. */
  private async spend(sid: string, exp: number, now: number): Promise<boolean | string> {
    if (this.spends) {
      try {
        return await this.spends.spendOnce(sid, exp, now);
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    }
    for (const [id, at] of this.spent) if (at <= now) this.spent.delete(id); // refused as expired from now on
    if (this.spent.has(sid)) return false;
    this.spent.set(sid, exp);
    return true;
  }

  private begin(request: CallRequest, preload: Map<string, unknown>): LiveCall {
    const { id, done } = request.transport.begin(request.method, request.params, request.extra);
    const p = request.principal;
    const call: LiveCall = {
      transport: request.transport,
      id,
      done,
      binding: {
        iss: p.issuer,
        sub: p.subject,
        ten: p.tenant ?? null,
        task: p.task?.id ?? null,
        dig: callDigest(request.method, request.params),
      },
      declared: declaredKinds(request.clientCapabilities),
      missing: new Set(),
      asked: new Map(),
      preload,
      keys: 0,
      round: 0,
      sid: undefined,
      disarm: undefined,
      wake: undefined,
      stream: undefined,
    };
    this.calls.set(id, call);
    void done.then(() => this.forget(call));
    return call;
  }

  /** Waits for the call's answer or its next round, whichever comes first, on behalf of one HTTP exchange. */
  private async wait(call: LiveCall, request: CallRequest): Promise<Answer> {
    const { signal } = request;
    call.stream = request.notify && {
      notify: request.notify,
      progressToken: progressTokenOf(request.params),
      logLevel: request.logLevel,
    };
    try {
      return await this.waitOn(call, signal);
    } finally {
      call.stream = undefined;
    }
  }

  private async waitOn(call: LiveCall, signal: AbortSignal): Promise<Answer> {
    for (;;) {
      if (call.asked.size > 0) {
        await nextTurn(); // requests the server sent together go out in one round
        if (call.asked.size > 0) return this.round(call);
      }
      const next = await new Promise<Answer | 'ask' | 'abort'>((resolve) => {
        const onAbort = () => resolve('abort');
        call.wake = () => resolve('ask');
        signal.addEventListener('abort', onAbort, { once: true });
        void call.done.then(resolve);
        if (signal.aborted) resolve('abort');
      }).finally(() => (call.wake = undefined));
      if (next === 'abort') {
        call.transport.cancel(call.id, 'the agent closed the request');
        return call.done;
      }
      if (next !== 'ask') return this.settled(call, next);
    }
  }

  /**
   * A call that failed after the server was refused a kind the agent had not declared fails with
   * MissingRequiredClientCapability naming those kinds (the server's own error is what the refusal
   * caused); a call the server completed anyway keeps its result.
   */
  private settled(call: LiveCall, answer: Answer): Answer {
    if (!('error' in answer) || call.missing.size === 0) return answer;
    return missingCapability([...call.missing]);
  }

  /** Ends this exchange with `input_required`: every waiting request, and the sealed state of the round. */
  private round(call: LiveCall): Answer {
    call.round += 1;
    const sid = randomBytes(16).toString('base64url');
    const exp = this.clock.now() + ROUND_TTL_MS;
    const asked = [...call.asked];
    const requestState = this.sealer.seal({
      ...call.binding,
      sid,
      rnd: call.round,
      exp,
      ask: Object.fromEntries(asked.map(([key, a]) => [key, a.digest])),
    });
    call.sid = sid;
    this.open.set(sid, call);
    call.disarm = this.clock.at(exp, () => this.expire(call, sid));
    return {
      result: {
        resultType: 'input_required',
        inputRequests: Object.fromEntries(
          asked.map(([key, a]) => [key, { method: a.method, ...(a.params !== undefined && { params: a.params }) }]),
        ),
        requestState,
      },
    };
  }

  /** No retry came in time: the waiting requests fail and the downstream call is cancelled. */
  private expire(call: LiveCall, sid: string): void {
    if (call.sid !== sid) return;
    this.open.delete(sid);
    call.sid = undefined;
    for (const asked of call.asked.values())
      call.transport.answer(asked.askId, {
        error: { code: -32001, message: 'the agent did not answer in time (requestState expired)' },
      });
    call.asked.clear();
    call.transport.cancel(call.id, 'the agent did not answer the input requests in time');
  }

  private forget(call: LiveCall): void {
    this.calls.delete(call.id);
    if (call.sid !== undefined) {
      // Finished while a round was open (the server gave up asking): the result waits for the retry.
      return;
    }
    call.disarm?.();
  }
}

/** The MissingRequiredClientCapability error for these kinds: `requiredCapabilities` is a ClientCapabilities object. */
export function missingCapability(kinds: readonly string[]): {
  error: { code: number; message: string; data: unknown };
} {
  return {
    error: {
      code: MISSING_CAPABILITY,
      message: `Missing required client capability: ${kinds.join(', ')} (declare it in _meta's clientCapabilities)`,
      data: { requiredCapabilities: Object.fromEntries(kinds.map((kind) => [kind, {}])) },
    },
  };
}

function refuse(refused: RetryRefusal, message: string): RoundsOutcome {
  return { refused, message: `Invalid params: ${message}` };
}

/** What a requestState is bound to: the method and its params (target and arguments), never `_meta` or the id. */
export function callDigest(method: string, params: Record<string, unknown>): string {
  const { _meta: _m, requestState: _s, inputResponses: _r, ...call } = params;
  return digestOf({ method, params: call }).digest;
}

function askDigest(method: string, params: Record<string, unknown> | undefined): string {
  return digestOf({ method, params: params ?? {} }).digest;
}

function declaredKinds(capabilities: Record<string, unknown>): ReadonlySet<string> {
  return new Set(Object.values(KIND_OF).filter((kind) => isObject(capabilities[kind])));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
