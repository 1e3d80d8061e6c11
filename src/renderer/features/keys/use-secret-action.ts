import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useRef, useState } from 'react';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../../shared/contract';
import type { Approval } from '../../../shared/contract/approval.contract';
import { call, CallError } from '../../api/client';

const asCallError = (err: unknown): CallError =>
  err instanceof CallError
    ? err
    : new CallError({ code: 'TRANSPORT', message: 'The workstation did not answer. Try again.' });

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
        setError(asCallError(err));
      } finally {
        setPending(false);
        void qc.invalidateQueries();
      }
    },
    [channel, onSuccess, qc],
  );
  return { run, pending, error, clearError: () => setError(null) };
}

/**
 * useSecretAction for a call under dual control. It is sent first without an approval, so refusals
 * that need no second person (HSM keystore, locked, unknown backup) show before anyone types a
 * password, and a policy that does not ask for one simply runs. On APPROVAL_REQUIRED the input waits
 * in a ref — never in state, the DOM or the query cache — until the approver signs or cancels; any
 * refusal other than the approver's own drops it.
 */
export function useApprovedSecretAction<C extends ChannelName>(
  channel: C,
  onSuccess?: (out: ChannelOutput<C>) => void,
) {
  const qc = useQueryClient();
  const waiting = useRef<((approval: Approval | undefined, approverSecret?: string) => ChannelInput<C>) | null>(null);
  const [approving, setApproving] = useState(false);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<CallError | null>(null);

  const send = async (approval: Approval | undefined, approverSecret?: string) => {
    const build = waiting.current;
    if (!build) return;
    setPending(true);
    setError(null);
    try {
      const out = await call(channel, build(approval, approverSecret));
      waiting.current = null;
      setApproving(false);
      onSuccess?.(out);
    } catch (err) {
      const e = asCallError(err);
      if (e.code === 'APPROVAL_REQUIRED' && !approval) {
        setApproving(true);
      } else {
        const approverProblem = /^APPROV(AL|ER)_/.test(e.code);
        if (!approverProblem) {
          waiting.current = null;
          setApproving(false);
        }
        setError(e);
      }
    } finally {
      setPending(false);
      void qc.invalidateQueries();
    }
  };

  return {
    /**
     * `input(approval, approverSecret)` builds the call; it holds the secret until the call settles.
     * `approverSecret` is what the approver typed beside their password (a backup custodian's passphrase).
     */
    start: (input: (approval: Approval | undefined, approverSecret?: string) => ChannelInput<C>) => {
      waiting.current = input;
      void send(undefined);
    },
    approve: (approval: Approval, approverSecret?: string) => void send(approval, approverSecret),
    cancel: () => {
      // The approval dialog also reports closing when this hook closed it after a refusal; keep that refusal.
      if (!approving) return;
      waiting.current = null;
      setApproving(false);
      setError(null);
    },
    approving,
    pending,
    /** A refusal for the form (the approval dialog shows its own while it is open). */
    formError: approving ? null : error,
    approvalError: approving ? error : null,
  };
}
