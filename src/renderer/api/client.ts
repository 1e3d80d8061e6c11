import { useEffect } from 'react';
import {
  useMutation,
  useQuery,
  useQueryClient,
  type UseMutationOptions,
  type UseQueryOptions,
} from '@tanstack/react-query';
import type {
  ChannelInput,
  ChannelName,
  ChannelOutput,
  ContractError,
  EventName,
  EventPayload,
} from '../../shared/contract';
import { bridge } from './bridge';

/** A failed call, carrying main's code and operator-facing message. */
export class CallError extends Error {
  constructor(readonly error: ContractError) {
    super(error.message);
  }
  get code(): string {
    return this.error.code;
  }
}

export async function call<C extends ChannelName>(channel: C, input: ChannelInput<C>): Promise<ChannelOutput<C>> {
  const r = await bridge.call(channel, input);
  if (!r.ok) throw new CallError(r.error);
  return r.value as ChannelOutput<C>;
}

/** Query keys start with the channel's domain, so `data:changed` events can invalidate by domain. */
export function useCall<C extends ChannelName>(
  channel: C,
  input: ChannelInput<C>,
  options?: Omit<UseQueryOptions<ChannelOutput<C>, CallError>, 'queryKey' | 'queryFn'>,
) {
  return useQuery<ChannelOutput<C>, CallError>({
    queryKey: [channel.split(':')[0], channel, input],
    queryFn: () => call(channel, input),
    ...options,
  });
}

export function useAction<C extends ChannelName>(
  channel: C,
  options?: Omit<UseMutationOptions<ChannelOutput<C>, CallError, ChannelInput<C>>, 'mutationFn'>,
) {
  const qc = useQueryClient();
  return useMutation<ChannelOutput<C>, CallError, ChannelInput<C>>({
    mutationFn: (input) => call(channel, input),
    ...options,
    onSettled: (...args) => {
      void qc.invalidateQueries();
      return options?.onSettled?.(...args);
    },
  });
}

export function useEvent<E extends EventName>(name: E, listener: (payload: EventPayload<E>) => void): void {
  useEffect(
    () =>
      bridge.onEvent((n, payload) => {
        if (n === name) listener(payload as EventPayload<E>);
      }),
    [name, listener],
  );
}

export function useTransportEvent(listener: (name: 'transport:connected' | 'transport:lost') => void): void {
  useEffect(
    () =>
      bridge.onEvent((n) => {
        if (n === 'transport:connected' || n === 'transport:lost') listener(n);
      }),
    [listener],
  );
}
