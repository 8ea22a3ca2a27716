import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, renderExposition } from '../../src/lib/prometheus.js';

test('the exposition text: HELP and TYPE per family, labels escaped, histograms cumulative with +Inf, sum and count', () => {
  const latency = new Histogram([1, 5]);
  for (const value of [0.5, 3, 7]) latency.observe(value);
  const text = renderExposition([
    { name: 'a_total', help: 'Things.\nTwo lines.', type: 'counter', samples: [{ value: 3 }] },
    {
      name: 'b',
      help: 'By reason.',
      type: 'gauge',
      samples: [
        { labels: { reason: 'say "hi"\\now\n' }, value: 1.5 },
        { labels: { reason: 'plain', other: 'x' }, value: 0 },
      ],
    },
    { name: 'c_seconds', help: 'Durations.', type: 'histogram', histograms: [{ labels: { op: 'x' }, histogram: latency.snapshot() }] },
    { name: 'd', help: 'Nothing yet.', type: 'counter', samples: [] },
  ]);
  assert.equal(
    text,
    [
      '# HELP a_total Things.\\nTwo lines.',
      '# TYPE a_total counter',
      'a_total 3',
      '# HELP b By reason.',
      '# TYPE b gauge',
      'b{reason="say \\"hi\\"\\\\now\\n"} 1.5',
      'b{reason="plain",other="x"} 0',
      '# HELP c_seconds Durations.',
      '# TYPE c_seconds histogram',
      // 0.5 ≤ 1; 0.5 and 3 ≤ 5; all three below +Inf; 0.5 + 3 + 7 = 10.5
      'c_seconds_bucket{op="x",le="1"} 1',
      'c_seconds_bucket{op="x",le="5"} 2',
      'c_seconds_bucket{op="x",le="+Inf"} 3',
      'c_seconds_sum{op="x"} 10.5',
      'c_seconds_count{op="x"} 3',
      '# HELP d Nothing yet.',
      '# TYPE d counter',
      '',
    ].join('\n'),
  );
});

test('bad metric or label names are refused, and histogram bounds must ascend', () => {
  assert.throws(() => renderExposition([{ name: 'a-b', help: '', type: 'gauge', samples: [] }]), /invalid metric name a-b/);
  assert.throws(
    () => renderExposition([{ name: 'a', help: '', type: 'gauge', samples: [{ labels: { 'x-y': '1' }, value: 1 }] }]),
    /invalid label name x-y/,
  );
  assert.throws(
    () => renderExposition([{ name: 'a', help: '', type: 'gauge', samples: [{ labels: { __name__: '1' }, value: 1 }] }]),
    /invalid label name __name__/,
  );
  assert.throws(() => new Histogram([5, 1]), /ascend/);
});
