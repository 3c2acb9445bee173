// Over 300 lines: one table of every agent method the gateway answers, kept whole so each route is found in one place.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  type CallToolRequest,
  CompleteRequestSchema,
  CompleteResultSchema,
  EmptyResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  GetPromptResultSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
  RootsListChangedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Aggregate } from '../model/catalog.js';
import type { ListEntry } from '../pipeline/orchestrator.js';
import { cleanPromptResult } from '../model/sanitize.js';
import type { CallMethod, ListMethod } from '../pipeline/context.js';
import { denialToWire, WireError } from '../pipeline/denial.js';
import type { AgentSession } from './agent-session.js';
import { routeResource } from './catalog.js';
import { listPage, type ListKey, type ListSpec } from './list-page.js';
import type { Extra } from './session-host.js';

// The method table: each handler routes a request (an unknown name or URI refused and recorded), then forwards or pages.

export function registerMethods(session: AgentSession): void {
  const server = session.server;
  // Every handler runs behind guard(): an unexpected error reaches the agent as -32603 with no internals.
  const s = {
    setRequestHandler: ((schema: unknown, handler: (req: unknown, extra: Extra) => unknown) =>
      server.setRequestHandler(
        schema as never,
        ((req: unknown, extra: Extra) => guard(session.log, () => handler(req, extra))) as never,
      )) as unknown as Server['setRequestHandler'],
    setNotificationHandler: server.setNotificationHandler.bind(server),
  };
  // Kept for the hot path too (hotToolsList): one way to list tools, whichever way the request came in.
  session.toolsList = {
    method: 'tools/list',
    key: 'tools',
    pick: (v) =>
      [...v.tools.values()].map((r) => ({
        server: r.server,
        target: r.item.name,
        item: r.item as unknown,
        definitionHash: r.definitionHash,
      })),
    // The task meta-tools change with the session's task: decided on every list, never remembered;
    // listed after the servers' tools.
    own: (v) => (session.taskTools && session.tasks?.listEntries(v)) || [],
  };
  s.setRequestHandler(ListToolsRequestSchema, async (req, extra) =>
    (await listPage(session, extra, session.toolsList, req.params?.cursor)).result(),
  );
  s.setRequestHandler(ListPromptsRequestSchema, (req, extra) =>
    list(
      session,
      extra,
      'prompts/list',
      req.params?.cursor,
      (v) =>
        [...v.prompts.values()].map((r) => ({
          server: r.server,
          target: r.item.name,
          item: r.item,
          definitionHash: r.definitionHash,
        })),
      'prompts',
    ),
  );
  s.setRequestHandler(ListResourcesRequestSchema, (req, extra) =>
    list(
      session,
      extra,
      'resources/list',
      req.params?.cursor,
      (v) => [...v.resources.values()].map((r) => ({ server: r.server, target: r.item.uri, item: r.item })),
      'resources',
    ),
  );
  s.setRequestHandler(ListResourceTemplatesRequestSchema, (req, extra) =>
    list(
      session,
      extra,
      'resources/templates/list',
      req.params?.cursor,
      (v) => v.templates.map((r) => ({ server: r.server, target: r.item.uriTemplate, item: r.item })),
      'resourceTemplates',
    ),
  );

  // Kept for the hot path too (hotToolsCall): one handler, whichever way the request came in.
  // Each handler authenticates before anything else: currentView() connects (spawns) the session's
  // servers, which an unauthenticated caller must never cause.
  session.callTool = async (req: CallToolRequest, extra: Extra) => {
    await session.principal(extra);
    if (session.taskTools && session.tasks?.handles(req.params.name))
      return session.forwarder.taskTool(extra, req.params.name, req.params.arguments ?? {});
    const view = await session.currentView();
    const route = view.tools.get(req.params.name);
    if (!route)
      return session.forwarder.refuse(extra, 'tools/call', req.params.name, {
        kind: 'unknown_tool',
        name: req.params.name,
        reason: 'no such tool',
      });
    const args = req.params.arguments ?? {};
    if (req.params.task !== undefined) return session.forwarder.createTask(extra, req.params, route, args);
    const result = await session.forwarder.forward(
      extra,
      'tools/call',
      route.server,
      req.params.name,
      route.downstreamName,
      args,
      CallToolResultSchema,
      (injection) => ({
        ...req.params,
        name: route.downstreamName,
        arguments: { ...args, ...injection.arguments },
      }),
    );
    session.owners.announceLinks(result, route.server);
    return result;
  };
  s.setRequestHandler(CallToolRequestSchema, session.callTool);

  s.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
    await session.principal(extra);
    const view = await session.currentView();
    const route = view.prompts.get(req.params.name);
    if (!route)
      return session.forwarder.refuse(extra, 'prompts/get', req.params.name, {
        kind: 'unknown_prompt',
        name: req.params.name,
        reason: 'no such prompt',
      });
    // Prompt text reaches the model as instructions: cleaned like descriptions, not only of escapes,
    // inside the call so the egress stage and the record see exactly what the agent gets.
    return session.forwarder.forward(
      extra,
      'prompts/get',
      route.server,
      req.params.name,
      route.downstreamName,
      req.params.arguments,
      GetPromptResultSchema,
      () => ({
        ...req.params,
        name: route.downstreamName,
      }),
      cleanPromptResult,
    );
  });

  const byUri =
    (method: CallMethod, schema: z.ZodType<unknown>) => async (req: { params: { uri: string } }, extra: Extra) => {
      await session.principal(extra);
      const uri = req.params.uri;
      const server = await session.resourceOwner(uri);
      if (!server)
        return session.forwarder.refuse(extra, method, uri, {
          kind: 'unknown_resource',
          uri,
          reason: 'no server serves this URI',
        });
      const result = await session.forwarder.forward(extra, method, server, uri, uri, undefined, schema, () => ({
        ...req.params,
      }));
      if (method === 'resources/subscribe') session.subscriptions.add(uri);
      if (method === 'resources/unsubscribe') session.subscriptions.delete(uri);
      return result;
    };
  s.setRequestHandler(ReadResourceRequestSchema, byUri('resources/read', ReadResourceResultSchema) as never);
  s.setRequestHandler(SubscribeRequestSchema, byUri('resources/subscribe', EmptyResultSchema) as never);
  s.setRequestHandler(UnsubscribeRequestSchema, byUri('resources/unsubscribe', EmptyResultSchema) as never);

  s.setRequestHandler(CompleteRequestSchema, async (req, extra) => {
    await session.principal(extra);
    const view = await session.currentView();
    const ref = req.params.ref;
    if (ref.type === 'ref/prompt') {
      const route = view.prompts.get(ref.name);
      if (!route)
        return session.forwarder.refuse(extra, 'completion/complete', ref.name, {
          kind: 'unknown_prompt',
          name: ref.name,
          reason: 'no such prompt',
        });
      return session.forwarder.forward(
        extra,
        'completion/complete',
        route.server,
        ref.name,
        route.downstreamName,
        req.params.argument as never,
        CompleteResultSchema,
        () => ({
          ...req.params,
          ref: { ...ref, name: route.downstreamName },
        }),
      );
    }
    const server = routeResource(view, ref.uri);
    if (!server)
      return session.forwarder.refuse(extra, 'completion/complete', ref.uri, {
        kind: 'unknown_resource',
        uri: ref.uri,
        reason: 'no server serves this URI',
      });
    return session.forwarder.forward(
      extra,
      'completion/complete',
      server,
      ref.uri,
      ref.uri,
      req.params.argument as never,
      CompleteResultSchema,
      () => ({ ...req.params }),
    );
  });

  // Changes what every server of the session logs: authenticated and recorded (before it is applied) like a call.
  s.setRequestHandler(SetLevelRequestSchema, async (req, extra) => {
    const principal = await session.principal(extra);
    const recorded = await session.host.pipeline.setLevel({
      principal,
      level: req.params.level,
      ingress: session.options.ingress,
      session: session.sessionId,
      jsonrpcId: extra.requestId,
    });
    if (!recorded.ok) throw denialToWire(recorded.denial);
    await Promise.all(
      session.host.servers().map((server) =>
        session.host
          .connectionFor(session, server.id)
          .setLogLevel(req.params.level)
          .catch((error: unknown) =>
            session.log.debug({ server: server.id, err: String(error) }, 'setLevel not applied'),
          ),
      ),
    );
    return {};
  });

  s.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
    for (const server of session.host.servers()) await session.host.connectionFor(session, server.id).rootsChanged();
  });
  session.taskRelay?.register((schema, handler) => s.setRequestHandler(schema as never, handler as never));
}

/** One page of a list, as the pipeline filters it for this caller (src/gateway/list-page.ts). */
async function list<T>(
  session: AgentSession,
  extra: Extra,
  method: ListMethod,
  cursor: string | undefined,
  pick: (view: Aggregate) => ListEntry<T>[],
  key: ListKey,
  before?: (view: Aggregate) => ListEntry<T>[],
): Promise<Record<string, unknown>> {
  const spec: ListSpec<T> = { method, key, pick, ...(before && { before }) };
  return (await listPage(session, extra, spec, cursor)).result();
}

/** Every handler runs behind this: an unexpected error reaches the agent as -32603 with no internals. */
export async function guard<T>(log: Logger, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof WireError || error instanceof McpError) throw error;
    log.error(
      { err: error instanceof Error ? (error.stack ?? error.message) : String(error) },
      'unexpected error in a request handler',
    );
    throw new WireError(ErrorCode.InternalError, 'Internal error');
  }
}
