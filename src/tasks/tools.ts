import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { BEGIN_TASK, END_TASK } from '../model/task-names.js';

/** The gateway's own tools, offered to every agent under a policy. */
export const TASK_TOOLS: readonly Tool[] = [
  {
    name: BEGIN_TASK,
    title: 'Begin a task',
    description:
      'Declare the task you are about to work on and the tools it needs. The session is narrowed to those tools ' +
      '(only ones your policy allows; some tools are only available inside a task) until the task ends or expires. ' +
      'Returns what was granted and what was refused. Globs such as "tickets__*" are accepted.',
    inputSchema: {
      type: 'object',
      properties: {
        purpose: {
          type: 'string',
          minLength: 1,
          maxLength: 500,
          description: 'What the task is for, in one sentence (recorded).',
        },
        tools: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 512 },
          minItems: 1,
          maxItems: 100,
          description: 'Tool names (or globs; prompt names and resource URIs also work) the task needs.',
        },
        ttlSeconds: {
          type: 'integer',
          minimum: 1,
          maximum: 86_400,
          description: 'Lifetime; the policy sets the default and the maximum.',
        },
      },
      required: ['purpose', 'tools'],
      additionalProperties: false,
    },
    annotations: {
      title: 'Begin a task',
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
      openWorldHint: false,
    },
  },
  {
    name: END_TASK,
    title: 'End the task',
    description:
      'End the task declared with warden__begin_task: its tools are removed and the session returns to what it may do outside a task.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: {
      title: 'End the task',
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    },
  },
];

/** Text the task keeps: no NUL (PostgreSQL's text cannot hold one, and keys are joined with it). */
const taskText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((text) => !text.includes('\u0000'), 'must not contain a NUL character');

export const BeginTaskArgsSchema = z
  .object({
    purpose: taskText(500),
    tools: z.array(taskText(512)).min(1).max(100),
    ttlSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .strict();

export const EndTaskArgsSchema = z.object({}).strict();

/** A result the agent reads as text and a client can read as structured content. */
export function taskResult(value: Record<string, unknown>, isError = false): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
    structuredContent: value,
    ...(isError && { isError: true }),
  };
}
