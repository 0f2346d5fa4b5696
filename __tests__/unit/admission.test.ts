// The admission object against a real MemoryLimiter: refused before commit it is given back,
// committed it stays counted, settled once it records its usage and frees its slot only once.

import { Admission } from '../../lib/limiter/admission';
import { MemoryLimiter } from '../../lib/limiter/memory-limiter';
import type { AdmissionInput, LimiterStore } from '../../lib/limiter/types';
import { silentLogger } from '../../lib/logger';

const SUBJECT = 'key:admission-test';

function input(id: string): AdmissionInput {
  return { id, subjects: [{ key: SUBJECT, limits: { rpm: 100, maxParallel: 5 } }], leaseMs: 60_000 };
}

async function admitted(limiter: LimiterStore, id: string, holdsSlots = true): Promise<Admission> {
  const result = await limiter.admit(input(id));
  expect(result.admitted).toBe(true);
  return Admission.admitted(limiter, silentLogger, input(id), holdsSlots);
}

describe('Admission', () => {
  let limiter: MemoryLimiter;
  beforeEach(() => {
    limiter = new MemoryLimiter();
  });
  afterEach(() => limiter.close());

  it('gives back an admission refused before it was committed, once', async () => {
    const admission = await admitted(limiter, 'adm_refused');
    await admission.refuse();
    await admission.refuse();
    expect(admission.state).toBe('rolledBack');
    expect(await limiter.usage(SUBJECT)).toMatchObject({ requestsThisWindow: 0, running: 0 });
  });

  it('keeps a committed admission counted when its create is refused later', async () => {
    const admission = await admitted(limiter, 'adm_committed');
    admission.commit();
    await admission.refuse();
    expect(admission.state).toBe('committed');
    expect(await limiter.usage(SUBJECT)).toMatchObject({ requestsThisWindow: 1, running: 1 });
  });

  it('settles once: usage recorded and the slot freed a single time', async () => {
    const admission = await admitted(limiter, 'adm_settled');
    admission.commit();
    await Promise.all([admission.settle('resp_1', { tokens: 12, spend: 0.5 }), admission.settle('resp_1', { tokens: 12, spend: 0.5 })]);
    await admission.rollback();
    expect(admission.state).toBe('settled');
    expect(await limiter.usage(SUBJECT)).toMatchObject({ requestsThisWindow: 1, tokensThisWindow: 12, running: 0, spend: 0.5 });
  });

  it('settles a recorded admission (a native record) with its usage and no slot release', async () => {
    const first = await admitted(limiter, 'adm_native', false);
    first.commit();
    const record = first.record!;
    expect(record).toEqual({ id: 'adm_native', subjects: [SUBJECT] });
    const release = jest.spyOn(limiter, 'release');
    await Admission.recorded(limiter, silentLogger, record).settle('resp_native', { tokens: 7, spend: 1 });
    expect(release).not.toHaveBeenCalled();
    expect(await limiter.usage(SUBJECT)).toMatchObject({ tokensThisWindow: 7, spend: 1 });
  });

  it('retries a settlement write that fails once', async () => {
    const admission = await admitted(limiter, 'adm_retry');
    admission.commit();
    const record = limiter.record.bind(limiter);
    let calls = 0;
    jest.spyOn(limiter, 'record').mockImplementation(async (...args) => {
      calls += 1;
      if (calls === 1) throw new Error('limiter blip');
      return record(...args);
    });
    await admission.settle('resp_retry', { tokens: 3, spend: 0 });
    expect(calls).toBe(2);
    expect(await limiter.usage(SUBJECT)).toMatchObject({ tokensThisWindow: 3, running: 0 });
  });

  it('changes nothing for a create nothing counted', async () => {
    const none = Admission.none();
    expect(none.record).toBeUndefined();
    none.commit();
    await none.settle('resp_none', { tokens: 1, spend: 1 });
    expect(none.state).toBe('settled');
  });
});
