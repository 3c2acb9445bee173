// The listen streams of the 2026-07-28 request path (stateless-core.ts): one `Listeners` per core, the
// change hook of each pooled session, and a `subscriptions/listen` request served on the stream its
// transport hands over (listen.ts does the rest).
import type { Gateway } from '../gateway/gateway.js';
import type { AgentSession, SessionOptions } from '../gateway/agent-session.js';
import type { Clock } from '../model/clock.js';
import type { Principal } from '../model/principal.js';
import type { Logger } from '../observe/logger.js';
import type { Ingress } from '../pipeline/context.js';
import type { Answer, InProcessTransport } from './in-process-transport.js';
import { Listeners, type ListenSink } from './listen.js';
import { SERVER_INFO, handleKeyOf } from './stateless-answers.js';
import { SERVER_INFO_KEY, type StatelessRequest } from './stateless-envelope.js';

export type { ListenSink };

/** The token's principal (before any task handle) and the handle the request presented, if any. */
export interface Presented {
  token: Principal;
  handle: string | undefined;
}

/** A listen request on a transport that gives no stream for it. */
const UNSERVED_LISTEN: Answer = {
  error: { code: -32601, message: 'Method not found: subscriptions/listen is not served on this transport' },
};

export class StatelessListen {
  private readonly listeners: Listeners;

  constructor(options: { gateway: Gateway; logger: Logger; ingress: Ingress; clock: Clock }) {
    this.listeners = new Listeners({
      pipeline: options.gateway.pipeline,
      governance: options.gateway.governance,
      clock: options.clock,
      logger: options.logger,
      ingress: options.ingress,
      handleKey: handleKeyOf,
      resultMeta: { [SERVER_INFO_KEY]: SERVER_INFO },
    });
  }

  /** What a pooled session hands on instead of notifying an agent of its own: the listeners decide. */
  changesOf(session: () => AgentSession): NonNullable<SessionOptions['changes']> {
    return {
      catalogChanged: (kinds) => this.listeners.catalogChanged(session(), kinds),
      resourceUpdated: (serverId, notification) => this.listeners.resourceUpdated(session(), serverId, notification),
    };
  }

  /**
   * A listen stream, as long as it lasts: it ends with nothing more to answer (an empty result the
   * transport does not send), or an answer when it is refused before it opens. Its subscribe and
   * unsubscribe run in the pool as this principal, with the request's `extra`.
   */
  async serve(input: {
    session: AgentSession;
    transport: InProcessTransport;
    principal: Principal;
    presented: Presented;
    request: StatelessRequest;
    extra: Parameters<InProcessTransport['dispatch']>[2];
    sink: ListenSink | undefined;
  }): Promise<Answer> {
    const { request, presented, sink, transport, extra } = input;
    if (!sink) return UNSERVED_LISTEN;
    const answer = await this.listeners.open(
      {
        id: request.id,
        params: request.params,
        version: request.version,
        ...(request.clientInfo && { clientInfo: request.clientInfo }),
        principal: input.principal,
        token: presented.token,
        ...(presented.handle !== undefined && { handle: presented.handle }),
        session: input.session,
        dispatch: (method, params) => transport.dispatch(method, params, extra),
      },
      sink,
    );
    return answer ?? { result: {} };
  }

  close(): Promise<void> {
    return this.listeners.close();
  }
}
