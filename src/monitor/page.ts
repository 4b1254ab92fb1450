// The dashboard's single HTML page: tiles, uPlot charts and tables, fed by Server-Sent Events from /api/stream.

/** Charts on the page: [series key, legend] pairs per chart; keys are aggregator SERIES_KEYS. */
const CHARTS = [
  { id: 'throughput', title: 'Throughput (per second)', keys: [['samplesPerSec', 'samples/s'], ['pairsPerSec', 'pairs/s']] },
  { id: 'tokens', title: 'Generated tokens (per second)', keys: [['tokensPerSec', 'tokens/s']] },
  { id: 'steps', title: 'Learner steps (per second)', keys: [['stepsPerSec', 'steps/s']] },
  { id: 'lag', title: 'Policy lag (versions)', keys: [['policyLagMean', 'mean (window)'], ['policyLagP90', 'p90 (run)']] },
  { id: 'sync', title: 'Weight sync (ms)', keys: [['weightSyncMs', 'publish + load']] },
  { id: 'reward', title: 'Reward', keys: [['goldReward', 'gold (eval)'], ['proxyReward', 'proxy (eval)'], ['judgeScore', 'judge score'], ['margin', 'DPO margin']] },
  { id: 'kl', title: 'KL to reference', keys: [['kl', 'KL']] },
  { id: 'loss', title: 'Loss and accuracy', keys: [['loss', 'loss'], ['accuracy', 'accuracy']] },
  { id: 'queues', title: 'Queue depth', keys: [['pendingTotal', 'pending'], ['deadLetters', 'dead letters']] },
];

/** Tiles: [element id, label, path into the snapshot]. Element ids are stable: tests and scrapers read them. */
const TILES = [
  ['stat-samples-rate', 'samples/s', 'rates.samplesPerSec'],
  ['stat-tokens-rate', 'tokens/s', 'rates.tokensPerSec'],
  ['stat-pairs-rate', 'pairs/s', 'rates.pairsPerSec'],
  ['stat-steps-rate', 'steps/s', 'rates.stepsPerSec'],
  ['stat-pairs-per-step', 'pairs/step', 'rates.pairsPerStep'],
  ['stat-samples-total', 'samples', 'totals.samples'],
  ['stat-pairs-total', 'pairs', 'totals.pairs'],
  ['stat-steps-total', 'steps', 'totals.steps'],
  ['stat-policy-version', 'policy version', 'policy.version'],
  ['stat-lag', 'lag (mean)', 'lagMean'],
  ['stat-sync-ms', 'weight sync ms', 'policy.weightSyncMs'],
  ['stat-pending', 'pending', 'streams.pendingTotal'],
  ['stat-dead-letters', 'dead letters', 'streams.deadLetters'],
  ['stat-loss', 'loss', 'quality.loss'],
  ['stat-judge-score', 'judge score', 'quality.judgeScore'],
  ['stat-proxy-reward', 'proxy reward', 'quality.proxyReward'],
  ['stat-gold-reward', 'gold reward', 'quality.goldReward'],
  ['stat-kl', 'KL', 'quality.kl'],
  ['stat-human-share', 'pairs by people', 'people.share'],
  ['stat-human-agreement', 'people agree w/ proxy', 'people.agreement'],
  ['stat-human-waiting', 'waiting for people', 'people.waiting'],
];

const CSS = `
body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 18px; background: #1d2330; color: #fff; }
header h1 { font-size: 18px; margin: 0; }
#conn { margin-left: auto; font-size: 13px; }
#conn.live { color: #7ee787; } #conn.down { color: #ff7b72; }
main { padding: 12px 18px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 8px; }
.tile { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 6px 10px; }
.tile .label { font-size: 11px; color: #5b6475; text-transform: uppercase; }
.tile .value { font-size: 20px; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 10px; margin-top: 12px; }
.chart { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 6px; min-height: 230px; }
.chart h3 { font-size: 13px; margin: 2px 4px 4px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; width: 100%; }
th, td { border: 1px solid #dde1e7; padding: 4px 8px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #eef0f4; }
.alive { color: #1a7f37; } .stale { color: #9a6700; } .dead { color: #cf222e; font-weight: bold; } .stopped { color: #57606a; }
.bar { display: inline-block; height: 10px; background: #1f77b4; vertical-align: middle; }
h2 { font-size: 15px; margin: 16px 0 6px; }
`;

/** The client: keeps the series columns, appends the points each event brings, redraws tiles, charts and tables. */
const CLIENT = `
const CHARTS = ${JSON.stringify(CHARTS)};
const TILES = ${JSON.stringify(TILES)};
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
let series = null;
const plots = {};
const $ = (id) => document.getElementById(id);
const fmt = (v) => (v === null || v === undefined || !Number.isFinite(v)) ? '-' : String(Number(v.toPrecision(4)));
const get = (o, path) => path.split('.').reduce((a, k) => (a == null ? a : a[k]), o);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function setup() {
  $('tiles').innerHTML = TILES.map(([id, label]) => '<div class="tile"><div class="label">' + label + '</div><div class="value" id="' + id + '">-</div></div>').join('');
  $('charts').innerHTML = CHARTS.map((c) => '<div class="chart"><h3>' + c.title + '</h3><div id="chart-' + c.id + '"></div></div>').join('');
}

function chartData(c) {
  return [series.t.map((t) => t / 1000), ...c.keys.map(([k]) => series[k])];
}

function drawCharts() {
  for (const c of CHARTS) {
    const el = $('chart-' + c.id);
    if (!plots[c.id]) {
      const opts = {
        width: Math.max(300, el.clientWidth || 400), height: 190,
        scales: { x: { time: true } },
        series: [{}, ...c.keys.map(([, label], i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.6, spanGaps: false }))],
        axes: [{}, { size: 56 }],
        legend: { live: false },
      };
      plots[c.id] = new uPlot(opts, chartData(c), el);
    } else {
      plots[c.id].setData(chartData(c));
    }
  }
}

function mergeSeries(incoming, full) {
  if (full || !series) { series = incoming; return; }
  for (const k of Object.keys(incoming)) series[k].push(...incoming[k]);
  // The server keeps an hour at most; the page keeps as much.
  const extra = series.t.length - 3600;
  if (extra > 0) for (const k of Object.keys(series)) series[k].splice(0, extra);
}

function render(s) {
  const lag = s.policy.lag;
  const view = Object.assign({}, s, { lagMean: lag ? (lag.recentMean ?? lag.mean) : null });
  for (const [id, , path] of TILES) $(id).textContent = fmt(get(view, path));
  $('run').textContent = 'run ' + (s.runId || '-');
  $('elapsed').textContent = s.startedAt ? ((s.now - s.startedAt) / 1000).toFixed(0) + ' s' : '';
  $('actors-body').innerHTML = s.actors.map((a) =>
    '<tr data-actor="' + esc(a.actorId) + '"><td>' + esc(a.actorId) + '</td><td>' + esc(a.role) + '</td><td>' + esc(a.state ?? '-') +
    '</td><td class="' + a.liveness + '">' + a.liveness + '</td><td>' + (a.ageMs / 1000).toFixed(1) + ' s ago</td><td>' + a.messages +
    '</td><td>' + a.highlights.map(([k, v]) => esc(k) + ' ' + fmt(v)).join(', ') + '</td></tr>').join('');
  $('streams-body').innerHTML = s.streams.consumers.map((c) =>
    '<tr><td>' + esc(c.topic) + '</td><td>' + esc(c.durable) + '</td><td>' + c.pending + '</td></tr>').join('') +
    s.streams.topics.filter((t) => t.deadLettered > 0).map((t) => '<tr><td>' + esc(t.topic) + '</td><td>dead letters</td><td>' + t.deadLettered + '</td></tr>').join('') +
    (s.streams.deadBySender || []).map((d) => '<tr><td>dead</td><td>from ' + esc(d.sender) + '</td><td>' + d.letters + '</td></tr>').join('');
  if (lag && lag.count > 0) {
    const per = lag.cumulative.map((c, i) => c - (i > 0 ? lag.cumulative[i - 1] : 0));
    const top = Math.max(1, ...per);
    $('lag-hist').innerHTML = '<table><tr><th>lag &le;</th><th>pairs</th><th></th></tr>' + lag.bounds.map((b, i) =>
      '<tr><td>' + b + '</td><td>' + per[i] + '</td><td><span class="bar" style="width:' + Math.round((200 * per[i]) / top) + 'px"></span></td></tr>').join('') + '</table>';
  }
  const sync = s.weightSync || [];
  if (sync.length > 0) {
    $('weight-sync').innerHTML = '<table><tr><th>version</th><th>mean |&Delta; log p| per token (nats)</th><th>implied sequence ratio &pi;/&mu; (worst)</th></tr>' +
      sync.slice(0, 50).map((r) => '<tr data-version="' + r.version + '"><td>' + r.version + '</td><td>' + (r.logprobDiff === null ? '-' : r.logprobDiff.toExponential(2)) +
        '</td><td>' + (r.seqRatio === null ? '-' : r.seqRatio.toPrecision(4)) + '</td></tr>').join('') + '</table>';
  }
  if (series) drawCharts();
}

function connect() {
  const es = new EventSource('/api/stream');
  es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'live'; };
  es.onerror = () => { $('conn').textContent = 'reconnecting'; $('conn').className = 'down'; };
  es.onmessage = (e) => {
    const s = JSON.parse(e.data);
    mergeSeries(s.series, s.full);
    render(s);
  };
}

setup();
connect();
async function pollResponses() {
  try {
    const r = await (await fetch('/api/responses')).json();
    if (r && r.examples.length > 0) {
      $('responses-title').textContent = 'Latest evaluated responses: version ' + r.version + ' (learner step ' + r.step + ')';
      $('responses-body').innerHTML = r.examples.map((e) =>
        '<tr data-prompt="' + esc(e.promptId) + '"><td>' + esc(e.prompt) + '</td><td>' + esc(e.sft.response) + ' <b>[' + fmt(e.sft.gold) + ']</b></td><td>' +
        esc(e.policy.response) + ' <b>[' + fmt(e.policy.gold) + ']</b></td><td>' + fmt(e.policy.proxy) + '</td></tr>').join('');
    }
  } catch (err) {
    $('responses-title').textContent = 'Latest evaluated responses: ' + err;
  }
}
pollResponses();
setInterval(pollResponses, 3000);
window.addEventListener('resize', () => { for (const c of CHARTS) plots[c.id]?.setSize({ width: Math.max(300, $('chart-' + c.id).clientWidth), height: 190 }); });
`;

export function dashboardPage(title = 'rlhf-stream monitor'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title.replace(/</g, '&lt;')}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uPlot.min.css">
<style>${CSS}</style>
</head>
<body>
<header><h1>rlhf-stream</h1><span id="run"></span><span id="elapsed"></span><span id="conn">connecting</span></header>
<main>
<section class="tiles" id="tiles"></section>
<section class="charts" id="charts"></section>
<h2 id="responses-title">Latest evaluated responses: none yet</h2>
<table id="responses"><thead><tr><th>held-out prompt</th><th>SFT [gold]</th><th>policy [gold]</th><th>proxy</th></tr></thead><tbody id="responses-body"></tbody></table>
<h2>Actors</h2>
<table id="actors"><thead><tr><th>actor</th><th>role</th><th>state</th><th>liveness</th><th>last heartbeat</th><th>messages</th><th>key numbers</th></tr></thead><tbody id="actors-body"></tbody></table>
<h2>Queues</h2>
<table id="streams"><thead><tr><th>topic</th><th>consumer</th><th>pending</th></tr></thead><tbody id="streams-body"></tbody></table>
<h2>Policy lag histogram</h2>
<div id="lag-hist">no pairs trained yet</div>
<h2>Weight sync: generators' log-probs against the learner's, per version</h2>
<div id="weight-sync">no sample checked yet</div>
</main>
<script src="/assets/uPlot.iife.min.js"></script>
<script>${CLIENT}</script>
</body>
</html>
`;
}
