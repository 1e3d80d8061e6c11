import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useState } from 'react';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../../shared/contract';
import { call, CallError } from '../../api/client';

/**
 * Like useAction, for calls that carry a secret (passphrase, key component): TanStack's mutation
 * state would keep the input as `variables`; this keeps only the outcome, so the secret lives no
 * longer than the call.
 */
export function useSecretAction<C extends ChannelName>(channel: C, onSuccess?: (out: ChannelOutput<C>) => void) {
  const qc = useQueryClient();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<CallError | null>(null);
  const run = useCallback(
    async (input: ChannelInput<C>) => {
      setPending(true);
      setError(null);
      try {
        const out = await call(channel, input);
        onSuccess?.(out);
      } catch (err) {
        setError(
          err instanceof CallError
            ? err
            : new CallError({ code: 'TRANSPORT', message: 'The workstation did not answer. Try again.' }),
        );
      } finally {
        setPending(false);
        void qc.invalidateQueries();
      }
    },
    [channel, onSuccess, qc],
  );
  return { run, pending, error, clearError: () => setError(null) };
}
