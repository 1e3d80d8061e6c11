import type { KeyInfoView } from '../../../shared/contract/keys.contract';
import { useCall } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';

const PURPOSE_LABEL: Record<KeyInfoView['purpose'], string> = {
  master: 'Master key (MK)',
  'issuer-signing': 'Issuer signing key (S)',
  'bank-ca': 'Bank CA',
  audit: 'Audit signing key',
};

/** Every key by purpose, version, state and check value. The keystore never returns key bytes. */
export function KeyTable() {
  const list = useCall('keys:list', {});
  const keys = list.data?.keys ?? [];
  return (
    <section aria-label="Key list">
      <h2>Keys in the keystore</h2>
      <ErrorBanner error={list.error} />
      {list.data && keys.length === 0 ? (
        <div className="empty-state">No keys yet. Hold a key ceremony (or generate a master key) to begin.</div>
      ) : null}
      {keys.length > 0 ? (
        <table className="grid" aria-label="Keys">
          <thead>
            <tr>
              <th>Purpose</th>
              <th>Version</th>
              <th>State</th>
              <th>Created</th>
              <th>Check value (KCV)</th>
              <th>Origin</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id} data-purpose={k.purpose} data-version={k.version}>
                <td>{PURPOSE_LABEL[k.purpose]}</td>
                <td>{k.version}</td>
                <td>{k.state}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td className="mono">{k.kcv}</td>
                <td>{k.origin === 'components' ? 'formed from components' : 'generated inside'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
