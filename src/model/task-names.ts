/** The names of the gateway's own task tools: known to policy (which never hides them), tasks and the session. */
/** The gateway's own tools live under this server id, which no configured server may use. */
export const TASK_SERVER = 'warden';
export const BEGIN_TASK = 'warden__begin_task';
export const END_TASK = 'warden__end_task';

/** Tasks in two sentences, at the head of the gateway's `instructions` on initialize whenever tasks exist. */
export const TASK_INSTRUCTIONS =
  `Some tools are granted only inside a task: call ${BEGIN_TASK} with your purpose and the tools (names or globs) you need, and ${END_TASK} when you are done. ` +
  `A call refused with a message naming ${BEGIN_TASK} can be asked for that way; a tool answered as unknown cannot.`;

export function isTaskTool(name: string): boolean {
  return name === BEGIN_TASK || name === END_TASK;
}
