// The /metrics exposition: valid Prometheus text (HELP/TYPE per family, well-formed samples) with the named metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsAggregator } from '../../src/monitor/aggregator.js';
import { PrometheusExporter, sanitizeName } from '../../src/monitor/prometheus.js';
import type { MetricsMsg } from '../../src/streams/topics.js';
import { parsePrometheus, type Parsed } from './prom_text.js';

function familyOf(p: Parsed, sample: string): string | undefined {
  if (p.type.has(sample)) return sample;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = sample.endsWith(suffix) ? sample.slice(0, -suffix.length) : undefined;
    if (base && p.type.get(base) === 'histogram') return base;
  }
  return undefined;
}

function find(p: Parsed, name: string, labels: Record<string, string> = {}): number | undefined {
  return p.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

const msg = (actorId: string, role: string, ts: number, values: Record<string, number>): MetricsMsg => ({ type: 'metrics', v: 1, runId: 'r', actorId, role, ts, values });

test('/metrics text is valid and carries actor metrics with actor/role labels, histograms, rates and queues', async () => {
  let now = 0;
  const agg = new MetricsAggregator({ intervalMs: 1000, now: () => now });
  for (let s = 0; s <= 4; s++) {
    now = s * 1000;
    agg.ingest(msg('gen-0', 'generator', now, { generator_samples_total: 8 * s, generator_tokens_total: 64 * s, generator_policy_version: 2 }));
    agg.ingest(msg('judge "a"\\b', 'judge', now, { judge_pairs_total: 2 * s, judge_score_mean: 0.25 }));
    agg.ingest(
      msg('learner-0', 'learner', now, {
        learner_steps_total: s,
        learner_loss: 0.5,
        learner_policy_version: 3,
        learner_policy_lag_count: 4 * s,
        learner_policy_lag_sum: 4 * s,
        learner_policy_lag_max: 2,
        learner_policy_lag_bucket_le_0: s,
        learner_policy_lag_bucket_le_1: 3 * s,
        learner_policy_lag_bucket_le_2_5: 4 * s,
      }),
    );
  }
  agg.observeBus({ published: { pairs: 8 }, delivered: {}, acked: {}, deadLettered: { pairs: 1 }, pending: { 'pairs/learner': 5 } });
  const exporter = new PrometheusExporter(agg);
  const text = await exporter.metrics();
  assert.match(exporter.contentType, /^text\/plain; version=0\.0\.4/);
  const p = parsePrometheus(text);

  for (const s of p.samples) {
    const fam = familyOf(p, s.name);
    assert.ok(fam, `sample ${s.name} has no TYPE line`);
    assert.ok(p.help.has(fam), `family ${fam} has no HELP line`);
  }
  assert.equal(p.type.get('generator_samples_total'), 'counter');
  assert.equal(p.type.get('learner_loss'), 'gauge');
  assert.equal(p.type.get('learner_policy_lag'), 'histogram');
  assert.equal(find(p, 'generator_samples_total', { actor: 'gen-0', role: 'generator' }), 32);
  assert.equal(find(p, 'judge_pairs_total', { actor: 'judge "a"\\b', role: 'judge' }), 8);
  assert.equal(find(p, 'learner_policy_lag_bucket', { le: '2.5' }), 16);
  assert.equal(find(p, 'learner_policy_lag_bucket', { le: '+Inf' }), 16);
  assert.equal(find(p, 'learner_policy_lag_count'), 16);
  assert.equal(find(p, 'learner_policy_lag_max'), 2);
  // Histogram buckets are cumulative and ordered by le.
  const les = p.samples.filter((s) => s.name === 'learner_policy_lag_bucket').map((s) => s.labels['le']);
  assert.deepEqual(les, ['0', '1', '2.5', '+Inf']);

  assert.equal(find(p, 'monitor_samples_per_second'), 8);
  assert.equal(find(p, 'monitor_tokens_per_second'), 64);
  assert.equal(find(p, 'monitor_pairs_per_second'), 2);
  assert.equal(find(p, 'monitor_learner_steps_per_second'), 1);
  assert.equal(find(p, 'monitor_pairs_per_step'), 2);
  assert.equal(find(p, 'monitor_policy_version'), 3);
  assert.equal(find(p, 'monitor_policy_lag_mean'), 1);
  assert.equal(find(p, 'monitor_actor_up', { actor: 'gen-0' }), 1);
  assert.equal(find(p, 'monitor_actors', { liveness: 'alive' }), 3);
  assert.equal(find(p, 'monitor_stream_pending_messages', { topic: 'pairs', consumer: 'learner' }), 5);
  assert.equal(find(p, 'monitor_stream_dead_letters_total', { topic: 'pairs' }), 1);

  // Later scrapes follow the state: the generator goes silent and is reported down.
  now = 20_000;
  const later = parsePrometheus(await exporter.metrics());
  assert.equal(find(later, 'monitor_actor_up', { actor: 'gen-0' }), 0);
  assert.equal(find(later, 'monitor_samples_per_second'), 0);
  assert.equal(find(later, 'monitor_actor_heartbeat_age_seconds', { actor: 'gen-0' }), 16);
});

test('names that Prometheus would reject are mapped into its alphabet', () => {
  assert.equal(sanitizeName('judge.pairs-total'), 'judge_pairs_total');
  assert.equal(sanitizeName('9lives'), '_9lives');
});

test('the weight-sync check is one family per quantity with a version label, and the dashboard view keeps every version', async () => {
  let now = 0;
  const agg = new MetricsAggregator({ intervalMs: 1000, now: () => now });
  agg.ingest(msg('learner', 'learner', now, { learner_sync_logprob_diff_version_1: 2e-7, learner_sync_seq_ratio_version_1: 1.000001, learner_sync_last_logprob_diff: 2e-7 }));
  now = 1000;
  // The learner keeps its newest versions only: version 1 left its message, the monitor still shows it.
  agg.ingest(msg('learner', 'learner', now, { learner_sync_logprob_diff_version_2: 0.4, learner_sync_seq_ratio_version_2: 3e-7, learner_sync_last_logprob_diff: 0.4 }));
  const p = parsePrometheus(await new PrometheusExporter(agg).metrics());
  assert.equal(p.type.get('learner_sync_logprob_diff'), 'gauge');
  assert.ok(p.help.get('learner_sync_logprob_diff')!.includes('per policy version'));
  assert.equal(find(p, 'learner_sync_logprob_diff', { actor: 'learner', version: '2' }), 0.4);
  assert.equal(find(p, 'learner_sync_seq_ratio', { actor: 'learner', version: '2' }), 3e-7);
  assert.equal(find(p, 'learner_sync_last_logprob_diff', { actor: 'learner' }), 0.4);
  assert.equal(p.samples.filter((s) => s.name.includes('_version_')).length, 0, 'no family per version');
  assert.deepEqual(agg.snapshot().weightSync, [
    { version: 2, logprobDiff: 0.4, seqRatio: 3e-7 },
    { version: 1, logprobDiff: 2e-7, seqRatio: 1.000001 },
  ]);
});
