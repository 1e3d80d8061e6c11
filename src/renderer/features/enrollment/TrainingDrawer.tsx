import { useAction, useCall } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';

/**
 * Training mode only: the drawer of practice cards. Staff put a new blank card (or one they used
 * before) into the training reader and take it out, as they would with a real reader.
 */
export function TrainingDrawer() {
  const drawer = useCall('enrollment:trainingDrawer', {});
  const newCard = useAction('enrollment:trainingNewCard');
  const insert = useAction('enrollment:trainingInsert');
  const remove = useAction('enrollment:trainingRemove');
  const error = drawer.error ?? newCard.error ?? insert.error ?? remove.error;
  const cards = drawer.data?.cards ?? [];
  const inReader = cards.find((c) => c.inReader);
  return (
    <section aria-labelledby="training-drawer" className="tile">
      <h2 id="training-drawer">Training cards</h2>
      <p className="muted">
        Training mode: practice cards go into “{drawer.data?.reader ?? 'the training reader'}” from here. They are
        development cards; nothing real is issued.
      </p>
      <div className="actions">
        <button type="button" onClick={() => newCard.mutate({})} disabled={newCard.isPending}>
          Put a new blank card in the reader
        </button>
        <button type="button" onClick={() => remove.mutate({})} disabled={!inReader || remove.isPending}>
          Take the card out
        </button>
      </div>
      <ErrorBanner error={error} />
      {cards.length === 0 ? (
        <div className="empty-state">The drawer is empty. Put a new blank card in the reader to start.</div>
      ) : (
        <table className="grid" aria-label="Practice cards">
          <thead>
            <tr>
              <th scope="col">Card id</th>
              <th scope="col">State</th>
              <th scope="col">N</th>
              <th scope="col">
                <span className="muted">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {cards.map((c) => (
              <tr key={c.cardId}>
                <td className="mono">{c.cardId}</td>
                <td>{c.lifeCycle}</td>
                <td className="mono">{c.n ?? '—'}</td>
                <td>
                  {c.inReader ? (
                    <span>In the reader</span>
                  ) : (
                    <button
                      type="button"
                      onClick={() => insert.mutate({ cardId: c.cardId })}
                      aria-label={`Put card ${c.cardId} in the reader`}
                    >
                      Put in reader
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
