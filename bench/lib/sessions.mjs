// The two session sections: the gateway's memory with many HTTP sessions open (each has made a checked
// call, so each also holds its downstream connection), and its child processes after many sessions
// have been opened, used and closed.
import { childPids, rssBytes } from './procs.mjs';
import { echoOnce } from './measure.mjs';
import { HANG_GUARD_MS } from './setup.mjs';

const MB = 1024 * 1024;

async function pool(count, concurrency, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

async function until(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return check();
}

export async function openMany(target, count, errors) {
  const pid = target.proc.pid;
  const rssBefore = rssBytes(pid);
  const childrenBefore = childPids(pid).length;
  const sessions = [];
  try {
    await pool(count, 8, async () => {
      try {
        const session = await target.connect();
        sessions.push(session);
        await echoOnce(target, session.client, 100, errors);
      } catch (error) {
        errors.push(`${target.name}: opening session ${sessions.length + 1} of ${count}: ${error.message}`);
      }
    });
    // Every session answers once more while all are open: they are live, not merely allocated.
    let live = 0;
    await pool(sessions.length, 16, async (i) => {
      if (await echoOnce(target, sessions[i].client, 100, errors)) live++;
    });
    const rssOpen = rssBytes(pid);
    const childrenOpen = childPids(pid).length;
    const opened = sessions.length;
    await pool(sessions.length, 16, (i) => sessions[i].close());
    sessions.length = 0;
    await until(() => childPids(pid).length <= childrenBefore, HANG_GUARD_MS);
    return {
      target: target.name,
      requested: count,
      opened,
      live,
      rssBeforeMB: rssBefore / MB,
      rssOpenMB: rssOpen / MB,
      rssPerSessionKB: (rssOpen - rssBefore) / 1024 / Math.max(1, opened),
      rssAfterCloseMB: rssBytes(pid) / MB,
      childrenBefore,
      childrenOpen,
      childrenAfterClose: childPids(pid).length,
    };
  } finally {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }
}

export async function sessionsAndChildren(target, count, errors) {
  const pid = target.proc.pid;
  const childrenBefore = childPids(pid).length;
  let peak = childrenBefore;
  let closed = 0;
  let answered = 0;
  await pool(count, 4, async () => {
    try {
      const session = await target.connect();
      if (await echoOnce(target, session.client, 100, errors)) answered++;
      peak = Math.max(peak, childPids(pid).length);
      await session.close();
      closed++;
      if (closed % 100 === 0 && closed < count)
        process.stderr.write(
          `           churn: ${closed}/${count} sessions closed, ${childPids(pid).length} children now\n`,
        );
    } catch (error) {
      errors.push(`${target.name}: churn: ${error.message}`);
    }
  });
  const settled = await until(() => childPids(pid).length <= childrenBefore, HANG_GUARD_MS);
  const childrenAfter = childPids(pid).length;
  if (!settled)
    errors.push(
      `${target.name}: ${childrenAfter - childrenBefore} child process(es) left after ${count} sessions were closed`,
    );
  return {
    target: target.name,
    requested: count,
    opened: closed,
    closed,
    answered,
    childrenBefore,
    childrenPeak: peak,
    childrenAfter,
    growth: childrenAfter - childrenBefore,
  };
}
