import { afterEach, describe, expect, it } from 'vitest';
import { contract, type ChannelName } from '../../../src/shared/contract';
import { channelExamples } from '../../support/channel-examples';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer, type TestOperator } from '../../support/operators';

const mutating = (Object.keys(contract) as ChannelName[]).filter((name) => contract[name].mutates);

describe('every state-changing channel writes an audit entry', () => {
  it('has a valid example call for every mutating channel (add yours to test/support/channel-examples.ts)', () => {
    expect(mutating.filter((name) => !channelExamples[name])).toEqual([]);
    expect(mutating.length).toBeGreaterThan(10);
  });

  let dispose: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await dispose?.();
    dispose = null;
  });

  it.each(mutating.filter((name) => channelExamples[name]))('%s', async (name) => {
    const example = channelExamples[name]!;
    const access = contract[name].access;
    if (example.as !== 'anonymous' && access !== 'signed-in' && access !== 'public') {
      expect(access, 'the example must call as a role the channel allows').toContain(example.as);
    }
    const extra = (await example.workstation?.()) ?? {};
    const t = freshSqliteWorkstation({ ...(example.readers ? { readers: example.readers } : {}), ...extra });
    dispose = t.dispose;
    const officer = example.firstRun ? null : await setupOfficer(t.ws);
    let caller: TestOperator | null = null;
    if (example.as === 'security_officer') caller = officer;
    else if (example.as !== 'anonymous') caller = await addOperator(t.ws, example.as);
    const input = await example.input({
      ws: t.ws,
      officer: officer as TestOperator,
      caller,
      addOperator: (role) => addOperator(t.ws, role),
    });

    const before = (await auditRows(t.ws)).length;
    const result = await t.ws.router.dispatch(caller?.client ?? 'anonymous-desk', name, input);
    expect(result).toMatchObject({ ok: true });
    const written = (await auditRows(t.ws)).slice(before);
    const action = example.auditAction ?? name.replace(':', '.');
    expect(written).toContainEqual(expect.objectContaining({ action, outcome: 'ok' }));
  });
});
