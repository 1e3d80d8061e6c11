/** What an audit row shows, wherever it is listed (the audit page, a customer's history). */
export interface AuditEntryView {
  at: string;
  operator: string | null;
  role: string | null;
  action: string;
  object: string | null;
  outcome: string;
  details: string;
}

/** The cells of one audit entry: time, who (and as what), action, object, outcome, details. */
export function AuditEntryCells({ e }: { e: AuditEntryView }) {
  return (
    <>
      <td>{e.at.replace('T', ' ').slice(0, 19)}</td>
      <td>
        {e.operator ?? 'system'}
        {e.role ? <span className="muted"> ({e.role})</span> : null}
      </td>
      <td>{e.action}</td>
      <td>{e.object ?? ''}</td>
      <td className={`outcome-${e.outcome}`}>{e.outcome}</td>
      <td className="details">{e.details === '{}' ? '' : e.details}</td>
    </>
  );
}
