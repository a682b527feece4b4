import { describe, expect, it } from 'vitest';
import { backoffDelay, classifyError, withRetries, TransientError, DEFAULT_RETRY_POLICY } from '../../src/core/s3/retry.js';
import { usageError } from '../../src/core/errors.js';

function s3Error(name: string, status: number) {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}
function networkError(code: string) {
  return Object.assign(new Error(`connect ${code}`), { code });
}

describe('error classes', () => {
  it.each([
    [s3Error('InternalError', 500), 'transient'],
    [s3Error('SlowDown', 503), 'throttled'],
    [s3Error('TooManyRequests', 429), 'throttled'],
    [s3Error('RequestTimeout', 400), 'transient'],
    [s3Error('BadDigest', 400), 'transient'],
    [networkError('ECONNRESET'), 'transient'],
    [networkError('ETIMEDOUT'), 'transient'],
    [new TransientError('body ended short'), 'transient'],
    [s3Error('AccessDenied', 403), 'permanent'],
    [s3Error('InvalidAccessKeyId', 403), 'permanent'],
    [s3Error('SignatureDoesNotMatch', 403), 'permanent'],
    [s3Error('NoSuchBucket', 404), 'permanent'],
    [s3Error('InvalidArgument', 400), 'permanent'],
    [s3Error('NotImplemented', 501), 'permanent'],
    [networkError('ECONNREFUSED'), 'permanent'],
    [networkError('ENOTFOUND'), 'permanent'],
    [usageError('bad flag'), 'permanent'],
    [new TypeError('bug'), 'permanent'],
  ])('%s is %s', (error, expected) => {
    expect(classifyError(error)).toBe(expected);
  });
});

describe('backoff with full jitter', () => {
  it('waits a random time below an exponentially growing, capped ceiling', () => {
    const policy = { retries: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(policy, 1, () => 0.999)).toBe(99);
    expect(backoffDelay(policy, 3, () => 0.999)).toBe(399);
    expect(backoffDelay(policy, 8, () => 0.999)).toBe(999);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
});

describe('withRetries', () => {
  const fast = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1, maxDelayMs: 2 };

  it('rides out transient failures and reports each retry with its attempt number', async () => {
    const attempts: number[] = [];
    let calls = 0;
    const result = await withRetries(
      'PUT k',
      async () => {
        calls += 1;
        if (calls < 3) throw s3Error('InternalError', 500);
        return 'ok';
      },
      fast,
      { onRetry: (notice) => attempts.push(notice.attempt) },
    );
    expect(result).toBe('ok');
    expect(attempts).toEqual([1, 2]);
  });

  it('fails at once on a permanent error', async () => {
    let calls = 0;
    await expect(
      withRetries(
        'PUT k',
        async () => {
          calls += 1;
          throw s3Error('AccessDenied', 403);
        },
        fast,
      ),
    ).rejects.toThrow('AccessDenied');
    expect(calls).toBe(1);
  });

  it('retries the codes one request names as transient for it (a body built again for each attempt), and only for that request', async () => {
    const damaged = new Set(['MalformedXML']);
    let calls = 0;
    const result = await withRetries(
      'CompleteMultipartUpload k',
      async () => {
        calls += 1;
        if (calls === 1) throw s3Error('MalformedXML', 400);
        return 'ok';
      },
      fast,
      { alsoTransient: damaged },
    );
    expect([result, calls]).toEqual(['ok', 2]);
    expect(classifyError(s3Error('MalformedXML', 400))).toBe('permanent');
    expect(classifyError(s3Error('MalformedXML', 400), damaged)).toBe('transient');
  });

  it('gives up after the configured retries and tells the limiter about throttling', async () => {
    let calls = 0;
    let throttles = 0;
    await expect(
      withRetries(
        'PUT k',
        async () => {
          calls += 1;
          throw s3Error('SlowDown', 503);
        },
        { ...fast, retries: 2 },
        { onThrottle: () => (throttles += 1) },
      ),
    ).rejects.toThrow('SlowDown');
    expect(calls).toBe(3);
    expect(throttles).toBe(3);
  });
});

describe('a clock off', () => {
  it('says so when S3 still finds the clock off (RequestTimeTooSkewed), not "access denied"', async () => {
    const { explainError } = await import('../../src/core/s3/explain-error.js');
    const skewed = s3Error('RequestTimeTooSkewed', 403);
    expect(explainError(skewed).message).toBe('the clock of this machine is off by more than 15 minutes (RequestTimeTooSkewed)');
    // A HEAD's 403 has no code: the corrected clock names the cause.
    const head = Object.assign(new Error('403'), { $metadata: { httpStatusCode: 403, clockSkewCorrected: true } });
    expect(explainError(head).message).toMatch(/^the clock of this machine is off by/);
  });

  it('signs again once with the corrected clock even with --retries 0', async () => {
    let attempts = 0;
    const skewed = Object.assign(s3Error('RequestTimeTooSkewed', 403), { $metadata: { httpStatusCode: 403, clockSkewCorrected: true } });
    const result = await withRetries('op', async () => {
      attempts += 1;
      if (attempts === 1) throw skewed;
      return 'ok';
    }, { ...DEFAULT_RETRY_POLICY, retries: 0 });
    expect({ result, attempts }).toEqual({ result: 'ok', attempts: 2 });
  });
});
