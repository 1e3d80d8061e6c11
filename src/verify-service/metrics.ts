// Prometheus text exposition (format 0.0.4) for the verification service, kept by hand: two metric
// families do not justify a client library. Requests are counted by route and outcome (accepted, a
// rejection reason, or an error code); their latency, from the request's arrival to the answer's
// last byte, goes into a histogram per route.

/** Seconds. The target is p99 ≤ 5 ms (issue 10), so the buckets are fine below that. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

export class ServiceMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();

  observe(route: string, outcome: string, seconds: number): void {
    const key = `${route}\u0000${outcome}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(route);
    if (!h) {
      h = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(route, h);
    }
    LATENCY_BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.counts[i] = (h.counts[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count += 1;
  }

  render(): string {
    const out: string[] = [
      '# HELP otac_verify_requests_total Requests answered, by route and outcome.',
      '# TYPE otac_verify_requests_total counter',
    ];
    for (const [key, n] of [...this.requests].sort(([a], [b]) => a.localeCompare(b))) {
      const [route, outcome] = key.split('\u0000');
      out.push(`otac_verify_requests_total{route="${label(route)}",outcome="${label(outcome)}"} ${n}`);
    }
    out.push(
      '# HELP otac_verify_request_duration_seconds Time from a request to its answer.',
      '# TYPE otac_verify_request_duration_seconds histogram',
    );
    for (const [route, h] of [...this.latency].sort(([a], [b]) => a.localeCompare(b))) {
      const r = label(route);
      LATENCY_BUCKETS.forEach((b, i) =>
        out.push(`otac_verify_request_duration_seconds_bucket{route="${r}",le="${b}"} ${h.counts[i] ?? 0}`),
      );
      out.push(`otac_verify_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.count}`);
      out.push(`otac_verify_request_duration_seconds_sum{route="${r}"} ${h.sum}`);
      out.push(`otac_verify_request_duration_seconds_count{route="${r}"} ${h.count}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/** Label values are our own route names and codes; escaped anyway, as the format requires. */
function label(v: string | undefined): string {
  return (v ?? '').replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
