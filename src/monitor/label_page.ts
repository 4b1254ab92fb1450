// The /label page: a prompt, two responses, and keys to pick the better one, a tie, or skip (posted to /api/label).

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function labelPage(title = 'rlhf-stream'): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}: label</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
#prompt { background: #f3f3f3; padding: .8rem 1rem; border-radius: 6px; white-space: pre-wrap; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; margin: 1rem 0; }
.resp { border: 2px solid #ccc; border-radius: 6px; padding: .8rem 1rem; white-space: pre-wrap; min-height: 4rem; }
.resp h3 { margin: 0 0 .4rem; font-size: .9rem; color: #666; }
kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 .3rem; background: #fafafa; }
#status { color: #555; } #error { color: #b00; }
</style></head>
<body>
<h1>Which response is better?</h1>
<p>Labelling as <b id="name"></b>. Keys: <kbd>a</kbd> or <kbd>1</kbd> left, <kbd>b</kbd> or <kbd>2</kbd> right, <kbd>t</kbd> tie, <kbd>s</kbd> skip.</p>
<div id="prompt">-</div>
<div class="pair">
  <div class="resp"><h3>A</h3><div id="resp-a">-</div></div>
  <div class="resp"><h3>B</h3><div id="resp-b">-</div></div>
</div>
<p id="status">loading</p>
<p id="error"></p>
<p>Labelled here: <b id="done">0</b>. Run: <span id="stats">-</span></p>
<script>
const q = new URLSearchParams(location.search);
const token = q.get('token') || '';
const name = q.get('name') || 'anonymous';
document.getElementById('name').textContent = name;
const headers = { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' };
let task = null, busy = false, done = 0;
const $ = (id) => document.getElementById(id);
function show(t) {
  task = t;
  $('prompt').textContent = t ? t.prompt : '-';
  $('resp-a').textContent = t ? t.a.text : '-';
  $('resp-b').textContent = t ? t.b.text : '-';
  // Ids on the elements: what was shown can be checked against the run's records.
  $('prompt').dataset.group = t ? t.groupId : '';
  $('resp-a').dataset.sample = t ? t.a.sampleId : '';
  $('resp-b').dataset.sample = t ? t.b.sampleId : '';
  $('status').textContent = t ? 'group ' + t.groupId + ' waiting ' + (t.waitedMs / 1000).toFixed(1) + ' s' : 'no group is waiting for a label';
}
function showStats(s) {
  const share = s.labelled + s.fallbacks > 0 ? (100 * s.labelled / (s.labelled + s.fallbacks)).toFixed(0) + '%' : '-';
  const agree = s.compared > 0 ? (100 * s.agreed / s.compared).toFixed(0) + '%' : '-';
  $('stats').textContent = 'waiting ' + s.waiting + ', labelled ' + s.labelled + ' (' + share + ' of waiting groups), ties ' + s.ties + ', late ' + s.late + ', fell back ' + s.fallbacks + ', agreement with the scorer ' + agree;
}
async function next() {
  if (busy) return;
  busy = true;
  try {
    const r = await fetch('/api/label/next?name=' + encodeURIComponent(name), { headers });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error);
    $('error').textContent = '';
    show(body.task);
    showStats(body.stats);
  } catch (e) {
    $('error').textContent = String(e.message || e);
  } finally {
    busy = false;
  }
}
async function answer(choice) {
  if (busy || !task) return;
  busy = true;
  try {
    const r = await fetch('/api/label', { method: 'POST', headers, body: JSON.stringify({ name, groupId: task.groupId, choice, a: task.a.sampleId, b: task.b.sampleId }) });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error);
    if (choice !== 'skip') $('done').textContent = String(++done);
    task = null;
  } catch (e) {
    $('error').textContent = String(e.message || e);
  } finally {
    busy = false;
  }
  await next();
}
const keys = { a: 'a', 1: 'a', b: 'b', 2: 'b', t: 'tie', s: 'skip' };
document.addEventListener('keydown', (e) => {
  const c = keys[e.key];
  if (c && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); void answer(c); }
});
setInterval(() => { if (!task) void next(); }, 400);
void next();
</script>
</body></html>
`;
}
