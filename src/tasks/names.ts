/** The gateway's own tools live under this server id, which no configured server may use. */
export const TASK_SERVER = 'warden';
export const BEGIN_TASK = 'warden__begin_task';
export const END_TASK = 'warden__end_task';

export function isTaskTool(name: string): boolean {
  return name === BEGIN_TASK || name === END_TASK;
}
