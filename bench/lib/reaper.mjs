// A sidecar that outlives the suite only to clean up after it: the suite writes the process groups
// (`g PGID`) and processes (`p PID`) it starts to this process's stdin; when that pipe closes, because
// the suite finished or was killed outright (SIGKILL runs no exit handler), every one still alive is
// killed. Started detached by bench/lib/procs.mjs.
import { createInterface } from 'node:readline';

const groups = new Set();
const pids = new Set();
createInterface({ input: process.stdin }).on('line', (line) => {
  const [kind, value] = line.split(' ');
  const id = Number(value);
  if (!Number.isInteger(id) || id <= 1) return;
  if (kind === 'g') groups.add(id);
  else if (kind === 'p') pids.add(id);
  else if (kind === '-g') groups.delete(id);
  else if (kind === '-p') pids.delete(id);
});
process.stdin.on('close', () => {
  for (const id of groups) kill(-id);
  for (const id of pids) kill(id);
  process.exit(0);
});

function kill(target) {
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // already gone
  }
}
