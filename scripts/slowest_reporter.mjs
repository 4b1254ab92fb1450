// A node:test reporter that lists, after the run, the test files whose top-level tests took longest in all.
// Files run one at a time, so a test defined in a shared helper (a contract suite) counts for the file that ran it.
const SHOW = Number(process.env.SLOWEST_FILES ?? 10);

export default async function* slowest(source) {
  const byFile = new Map();
  let current;
  for await (const event of source) {
    const file = event.data?.file;
    if (typeof file === 'string' && file.endsWith('.test.js')) current = file;
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.nesting !== 0) continue;
    const owner = current ?? file;
    if (!owner) continue;
    byFile.set(owner, (byFile.get(owner) ?? 0) + (event.data.details?.duration_ms ?? 0));
  }
  const rows = [...byFile].sort((a, b) => b[1] - a[1]).slice(0, SHOW);
  if (rows.length === 0) return;
  const cwd = process.cwd() + '/';
  yield `\nslowest test files (of ${byFile.size}), by the time their tests took:\n`;
  for (const [file, ms] of rows) yield `${(ms / 1000).toFixed(2).padStart(8)} s  ${file.startsWith(cwd) ? file.slice(cwd.length) : file}\n`;
}
