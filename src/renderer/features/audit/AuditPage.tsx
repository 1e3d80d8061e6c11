import { useState } from 'react';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import { useAction, useCall, call, CallError } from '../../api/client';
import { ErrorBanner, Field, Form } from '../../ui/forms';
import { Pager } from '../../ui/table';
import { AuditEntryCells } from './AuditEntryCells';

interface Filters {
  operator: string;
  actionPrefix: string;
  outcome: '' | 'ok' | 'denied' | 'failed';
  from: string;
  to: string;
  text: string;
}
const EMPTY: Filters = { operator: '', actionPrefix: '', outcome: '', from: '', to: '', text: '' };

function toQuery(f: Filters, page: number) {
  return {
    page,
    pageSize: 50,
    ...(f.operator ? { operator: f.operator } : {}),
    ...(f.actionPrefix ? { actionPrefix: f.actionPrefix } : {}),
    ...(f.outcome ? { outcome: f.outcome } : {}),
    ...(f.from ? { from: f.from } : {}),
    ...(f.to ? { to: f.to } : {}),
    ...(f.text ? { text: f.text } : {}),
  };
}

export function AuditPage({ session }: { session: SessionInfo }) {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [page, setPage] = useState(1);
  const result = useCall('audit:query', toQuery(applied, page));
  const verify = useAction('audit:verify');
  const checkpoint = useAction('audit:checkpoint');
  const [exportError, setExportError] = useState<CallError | null>(null);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const pages = result.data ? Math.max(1, Math.ceil(result.data.total / result.data.pageSize)) : 1;

  async function download(format: 'json' | 'csv') {
    setExportError(null);
    try {
      const { files } = await call('audit:export', { format });
      for (const f of files) {
        const url = URL.createObjectURL(new Blob([f.content], { type: f.mimeType }));
        const a = document.createElement('a');
        a.href = url;
        a.download = f.fileName;
        a.click();
        URL.revokeObjectURL(url);
      }
    } catch (err) {
      setExportError(err instanceof CallError ? err : null);
    }
  }

  return (
    <section className="page" aria-label="Audit">
      <h1>Audit trail</h1>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => verify.mutate({})} disabled={verify.isPending}>
          {verify.isPending ? 'Verifying…' : 'Verify chain'}
        </button>
        <button type="button" onClick={() => void download('json')}>
          Export JSON
        </button>
        <button type="button" onClick={() => void download('csv')}>
          Export CSV
        </button>
        {session.role !== 'manager' ? (
          <button type="button" onClick={() => checkpoint.mutate({})} disabled={checkpoint.isPending}>
            Sign checkpoint now
          </button>
        ) : null}
      </div>
      <ErrorBanner error={verify.error ?? checkpoint.error ?? exportError} />
      {verify.data ? (
        verify.data.ok ? (
          <div className="banner banner-ok" data-testid="verify-result">
            Chain intact: {verify.data.entries} entries
            {verify.data.signatures === 'not-checked'
              ? '.'
              : `, ${verify.data.checkpoints} signed checkpoints${verify.data.unsignedTail ? `, ${verify.data.unsignedTail} newest entries not yet under a signature` : ''}.`}
            {verify.data.anchor
              ? ` The keystore recorded entry #${verify.data.anchor.seq} as signed; the log still reaches it unchanged.`
              : ''}
            {verify.data.auditKeyFingerprint ? (
              <div>
                Audit key fingerprint (for the standalone verifier):{' '}
                <code data-testid="audit-key-fingerprint">{verify.data.auditKeyFingerprint}</code>
              </div>
            ) : null}
          </div>
        ) : (
          <div className="banner banner-error" role="alert" data-testid="verify-result">
            Broken at entry #{verify.data.firstProblem?.seq}: {verify.data.firstProblem?.message}
          </div>
        )
      ) : null}
      {verify.data?.notice ? (
        <div className="banner banner-warning" role="status" data-testid="verify-notice">
          {verify.data.notice}
        </div>
      ) : null}
      {checkpoint.data ? (
        <div className="banner banner-ok">Checkpoint signed up to entry #{checkpoint.data.seq}.</div>
      ) : null}

      <Form
        label="Filter audit entries"
        onSubmit={() => {
          setApplied(draft);
          setPage(1);
        }}
      >
        <div className="toolbar">
          <Field label="Operator" name="operator" value={draft.operator} onChange={set('operator')} />
          <Field
            label="Action starts with"
            name="actionPrefix"
            value={draft.actionPrefix}
            onChange={set('actionPrefix')}
          />
          <div className="field">
            <label htmlFor="outcome">Outcome</label>
            <select id="outcome" value={draft.outcome} onChange={set('outcome')}>
              <option value="">any</option>
              <option value="ok">ok</option>
              <option value="denied">denied</option>
              <option value="failed">failed</option>
            </select>
          </div>
          <Field label="From" name="from" type="date" value={draft.from} onChange={set('from')} />
          <Field label="To" name="to" type="date" value={draft.to} onChange={set('to')} />
          <Field label="Text" name="text" value={draft.text} onChange={set('text')} />
          <button type="submit" className="primary">
            Filter
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setApplied(EMPTY);
              setPage(1);
            }}
          >
            Clear
          </button>
        </div>
      </Form>
      <ErrorBanner error={result.error} />
      {result.data && result.data.entries.length === 0 ? (
        <div className="empty-state">No entries match these filters.</div>
      ) : null}
      {result.data && result.data.entries.length > 0 ? (
        <>
          <table className="grid" aria-label="Audit entries">
            <thead>
              <tr>
                <th>#</th>
                <th>When (UTC)</th>
                <th>Operator</th>
                <th>Action</th>
                <th>Object</th>
                <th>Outcome</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {result.data.entries.map((e) => (
                <tr key={e.seq}>
                  <td>{e.seq}</td>
                  <AuditEntryCells e={e} />
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} pages={pages} onPage={setPage}>{` (${result.data.total} entries)`}</Pager>
        </>
      ) : null}
    </section>
  );
}
