/**
 * src/core/frame-spec.ts: a FrameFormat checked and with its defaults
 * filled in, and the payload length a header announces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frameLength, frameSpec } from '../../src/core/frame-spec.js';

const code = (c: string) => (err: Error & { code?: string }) => err.code === c;

test('frameSpec checks a FrameFormat and fills in its defaults', () => {
  assert.deepEqual(frameSpec({ lengthBytes: 4 }), { headerBytes: 4, lengthOffset: 0, lengthBytes: 4, littleEndian: false, adjust: 0, keepHeader: false });
  assert.deepEqual(frameSpec({ lengthBytes: 2, endian: 'le', lengthOffset: 1, headerBytes: 6, adjust: -6, keepHeader: true }), {
    headerBytes: 6,
    lengthOffset: 1,
    lengthBytes: 2,
    littleEndian: true,
    adjust: -6,
    keepHeader: true,
  });
  assert.throws(() => frameSpec(null as never), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => frameSpec({ lengthBytes: 3 } as never), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => frameSpec({ lengthBytes: 4, endian: 'middle' } as never), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => frameSpec({ lengthBytes: 4, lengthOffset: -1 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => frameSpec({ lengthBytes: 4, lengthOffset: 2, headerBytes: 5 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => frameSpec({ lengthBytes: 4, adjust: 0.5 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => frameSpec({ lengthBytes: 4, keepHeader: 1 } as never), code('ERR_INVALID_ARG_TYPE'));
});

test('frameLength reads the length field where the spec puts it, in its width and byte order, plus adjust', () => {
  const h = Buffer.from([9, 9, 0x01, 0x02, 0x03, 0x04, 9]);
  assert.equal(frameLength(h, frameSpec({ lengthBytes: 1, lengthOffset: 2 })), 0x01);
  assert.equal(frameLength(h, frameSpec({ lengthBytes: 2, lengthOffset: 2 })), 0x0102);
  assert.equal(frameLength(h, frameSpec({ lengthBytes: 2, lengthOffset: 2, endian: 'le' })), 0x0201);
  assert.equal(frameLength(h, frameSpec({ lengthBytes: 4, lengthOffset: 2 })), 0x01020304);
  assert.equal(frameLength(h, frameSpec({ lengthBytes: 4, lengthOffset: 2, endian: 'le', adjust: -1 })), 0x04030201 - 1);
  // From an offset: the header starts at `base`.
  assert.equal(frameLength(h, frameSpec({ lengthBytes: 2 }), 3), 0x0203);
});
