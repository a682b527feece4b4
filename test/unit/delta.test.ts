import { describe, expect, it } from 'vitest';
import { compareDeltaLogEntries, DeltaLogGate, deltaTableRootOf, mayBeReadByDelta } from '../../src/core/sync/delta.js';
import { escapeInvalidUtf8 } from '../../src/core/transfer/local-tree.js';

describe('Delta tables in a sync', () => {
  it('name the table a log entry belongs to', () => {
    expect(deltaTableRootOf('lake/orders/_delta_log/00000000000000000003.json')).toBe('lake/orders');
    expect(deltaTableRootOf('_delta_log/_last_checkpoint')).toBe('');
    expect(deltaTableRootOf('lake/orders/part-0.parquet')).toBeUndefined();
  });

  it('order a log as its writer committed it: by version, commit before checkpoint, _last_checkpoint last', () => {
    const names = ['t/_delta_log/_last_checkpoint', 't/_delta_log/00000000000000000010.json', 't/_delta_log/00000000000000000010.checkpoint.parquet', 't/_delta_log/00000000000000000002.json'];
    expect([...names].sort(compareDeltaLogEntries)).toEqual([
      't/_delta_log/00000000000000000002.json',
      't/_delta_log/00000000000000000010.json',
      't/_delta_log/00000000000000000010.checkpoint.parquet',
      't/_delta_log/_last_checkpoint',
    ]);
  });

  it('hold back the log of a table with a failed file, and only of that table', () => {
    const gate = new DeltaLogGate();
    gate.noteFailure('lake/orders/date=2024-01-01/part-7.parquet');
    expect(gate.holdBack('lake/orders/_delta_log/00000000000000000005.json')).toMatch(/^not transferred: lake\/orders\/date=2024-01-01\/part-7\.parquet /);
    expect(gate.holdBack('lake/customers/_delta_log/00000000000000000005.json')).toBeUndefined();
    expect(gate.holdBack('lake/orders/date=2024-01-01/part-8.parquet')).toBeUndefined(); // not a log entry
    // A table at the synced root is held back by a failure anywhere; a folder that could not be read holds back a table inside it.
    expect(gate.holdBack('_delta_log/00000000000000000001.json')).toBeDefined();
    gate.noteFailure('lake/events/');
    expect(gate.holdBack('lake/events/_delta_log/00000000000000000000.json')).toBeDefined();
    // A failed entry of a log holds back the entries after it.
    gate.noteFailure('lake/items/_delta_log/00000000000000000001.json');
    expect(gate.holdBack('lake/items/_delta_log/00000000000000000002.json')).toBeDefined();
  });

  it('hold back the log for a file not transferred for another reason, and say why', () => {
    const gate = new DeltaLogGate();
    gate.noteNotTransferred('lake/orders/part-9.parquet', 'is a symbolic link, not followed; sync with --follow-symlinks');
    expect(gate.holdBack('lake/orders/_delta_log/00000000000000000006.json')).toMatch(/^not transferred: lake\/orders\/part-9\.parquet of this Delta table is a symbolic link, not followed; sync with --follow-symlinks /);
    expect(gate.holdBack('lake/other/_delta_log/00000000000000000006.json')).toBeUndefined();
  });

  it('tell which files a Delta reader may open: not the log, not hidden names', () => {
    expect(mayBeReadByDelta('orders/part-0.parquet')).toBe(true);
    expect(mayBeReadByDelta('orders/_change_data/cdc-0.parquet')).toBe(true);
    expect(mayBeReadByDelta('orders/.part-0.parquet.crc')).toBe(false);
    expect(mayBeReadByDelta('orders/_delta_log/00000000000000000000.crc')).toBe(false);
  });
});

describe('names that are not valid UTF-8, shown in a message', () => {
  it('keep their valid text and show each other byte as \\xNN', () => {
    expect(escapeInvalidUtf8(Buffer.concat([Buffer.from('bad'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]))).toBe('bad\udcff\udcfe.txt');
    expect(escapeInvalidUtf8(Buffer.concat([Buffer.from('été'), Buffer.from([0xc3]), Buffer.from('€')]))).toBe('été\udcc3€');
    expect(escapeInvalidUtf8(Buffer.from('plain'))).toBe('plain');
  });
});
