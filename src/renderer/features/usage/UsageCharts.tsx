import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';
import { REJECTION_REASONS, type RejectionReason, type UsageSummary } from '../../../shared/contract/usage.contract';
import { REASON_COLOURS, REASON_LABELS } from './usage-params';

// The review's two charts (Recharts), each with a text alternative: a one-line summary read by
// screen readers and a table of the same figures under "Show the figures".

/** Every day of the range, those without activity as zeros, so the time axis is true to scale. */
function dailySeries(summary: UsageSummary, from: string, to: string) {
  const byDay = new Map(summary.perDay.map((d) => [d.day, d]));
  const out: ({ day: string; uses: number } & Partial<Record<RejectionReason, number>>)[] = [];
  const end = new Date(`${to}T00:00:00.000Z`).getTime();
  // Bounded: a range of years is drawn by its days with activity only.
  const span = (end - new Date(`${from}T00:00:00.000Z`).getTime()) / 86_400_000;
  const days =
    span > 400
      ? summary.perDay.map((d) => d.day)
      : Array.from({ length: span + 1 }, (_, i) =>
          new Date(new Date(`${from}T00:00:00.000Z`).getTime() + i * 86_400_000).toISOString().slice(0, 10),
        );
  for (const day of days) {
    const d = byDay.get(day);
    const row: (typeof out)[number] = { day, uses: d?.uses ?? 0 };
    for (const r of d?.rejections ?? []) row[r.reason] = r.count;
    out.push(row);
  }
  return out;
}

export function UsePerDayChart({ summary, from, to }: { summary: UsageSummary; from: string; to: string }) {
  const data = dailySeries(summary, from, to);
  const reasons = REJECTION_REASONS.filter((r) => summary.rejectionsByReason.some((x) => x.reason === r));
  const busiest = summary.perDay.reduce<{ day: string; uses: number } | null>(
    (a, d) => (a && a.uses >= d.uses ? a : { day: d.day, uses: d.uses }),
    null,
  );
  return (
    <figure className="chart" aria-labelledby="uses-chart-title" data-testid="uses-chart">
      <figcaption id="uses-chart-title">
        <strong>Uses and refusals per day</strong>
        <span className="muted">
          {' '}
          {summary.usesInRange} uses and {summary.rejections} refusals from {from} to {to}
          {busiest ? `; busiest day ${busiest.day} with ${busiest.uses} uses` : ''}.
        </span>
      </figcaption>
      <div aria-hidden="true">
        <BarChart width={760} height={260} data={data} accessibilityLayer={false}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="day" tick={{ fontSize: 11 }} />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend />
          <Bar dataKey="uses" name="Uses" stackId="uses" fill="#0b5cad" isAnimationActive={false} />
          {reasons.map((r) => (
            <Bar
              key={r}
              dataKey={r}
              name={REASON_LABELS[r]}
              stackId="refusals"
              fill={REASON_COLOURS[r]}
              isAnimationActive={false}
            />
          ))}
        </BarChart>
      </div>
      <details>
        <summary>Show the figures</summary>
        <table className="grid compact" aria-label="Uses and refusals per day">
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Uses</th>
              {reasons.map((r) => (
                <th scope="col" key={r}>
                  {REASON_LABELS[r]}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data
              .filter((d) => d.uses > 0 || reasons.some((r) => d[r]))
              .map((d) => (
                <tr key={d.day}>
                  <th scope="row">{d.day}</th>
                  <td>{d.uses}</td>
                  {reasons.map((r) => (
                    <td key={r}>{d[r] ?? 0}</td>
                  ))}
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

export function BranchChart({ summary }: { summary: UsageSummary }) {
  const data = summary.byBranch;
  return (
    <figure className="chart" aria-labelledby="branch-chart-title" data-testid="branch-chart">
      <figcaption id="branch-chart-title">
        <strong>Codes remaining and refills due by branch</strong>
        <span className="muted">
          {' '}
          {summary.remaining} codes remain on active lists in {data.length} branches; {summary.refillsDue} refills due.
        </span>
      </figcaption>
      <div aria-hidden="true">
        <BarChart width={760} height={220} data={data} accessibilityLayer={false}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="branch" />
          <YAxis yAxisId="codes" allowDecimals={false} />
          <YAxis yAxisId="refills" orientation="right" allowDecimals={false} />
          <Tooltip />
          <Legend />
          <Bar yAxisId="codes" dataKey="remaining" name="Codes remaining" fill="#1e7d32" isAnimationActive={false} />
          <Bar yAxisId="refills" dataKey="refillsDue" name="Refills due" fill="#b26a00" isAnimationActive={false} />
        </BarChart>
      </div>
      <details>
        <summary>Show the figures</summary>
        <table className="grid compact" aria-label="Codes remaining and refills due by branch">
          <thead>
            <tr>
              <th scope="col">Branch</th>
              <th scope="col">Cards</th>
              <th scope="col">Codes remaining</th>
              <th scope="col">Refills due</th>
            </tr>
          </thead>
          <tbody>
            {data.map((b) => (
              <tr key={b.branch}>
                <th scope="row">{b.branch}</th>
                <td>{b.cards}</td>
                <td>{b.remaining}</td>
                <td>{b.refillsDue}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
