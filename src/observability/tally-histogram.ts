/**
 * A Prometheus histogram for the per-call latencies, kept as plain bucket counts per label set
 * and handed to the prom-client registry in prom-client's own value format at scrape time. A
 * prom-client child's observe() converts, validates and hashes its labels on every call, which
 * was a few percent of the gateway's CPU per call; here an observation is a bucket search and
 * three additions. The exposition is the same as prom-client's Histogram (a test compares them).
 */
import type { Histogram } from 'prom-client';

/** One label set's counts. */
export class HistogramChild {
  /** counts[i]: observations in bucket i alone (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    this.counts[i]! += 1;
    this.sum += v;
    this.count += 1;
  }
}

interface Value {
  labels: Record<string, string | number>;
  /** The child's own labels: prom-client prints them after `le`, as its Histogram does. */
  sharedLabels?: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
  /** prom-client's field for exemplars (this histogram keeps none): null on buckets, absent-valued on sum and count. */
  exemplar: null | undefined;
}

interface MetricData {
  name: string;
  help: string;
  type: string;
  values: Value[];
  aggregator: string;
}

export class TallyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, HistogramChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {}

  /** The child for these label values (in labelNames order), created on first use. */
  child(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      c = new HistogramChild(this.bounds, labels);
      this.children.set(key, c);
    }
    return c;
  }

  /** prom-client's Metric contract: what the registry prints (labels as its Histogram gives them). */
  async getForPromString(): Promise<MetricData> {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children.values()) {
      const shared = c.labels;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += c.counts[i] as number;
        values.push({ labels: { le }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: c.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: c.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: shared, value: c.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's Metric contract for JSON: each value's labels in one object. */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ labels, sharedLabels, value, metricName, exemplar }) => ({ value, metricName, exemplar, labels: { ...labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.children.clear();
  }

  /** The registry only ever reads name, get() and reset(); its type names prom-client's own classes. */
  asMetric(): Histogram<string> {
    return this as unknown as Histogram<string>;
  }
}
