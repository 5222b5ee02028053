/**
 * The framing helpers: the pure chunk-list logic of src/core/inbound.ts
 * (delimiter search across Buffers from a scan offset, taking bytes off the
 * front), then DangaSocket's readLine / readUntil / readExact / readSome
 * over real sockets on both engines: random frames written by a peer in
 * random pieces come back the same and in order, big frames cost one copy,
 * limits throw a coded error, pipelined frames are re-fired, a partial frame
 * does not spin the loop, and the helpers share one byte stream with read()
 * and pushBackRead().
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Connection, DangaSocket, socketPair, type Sock } from 'danga-socket';
import { Inbound, TOO_LONG } from '../../src/core/inbound.js';
import { frameSpec, type FrameSpec } from '../../src/core/frame-spec.js';
import { byteAt, dropFront, framingCopies, indexOfChunks, takeFront } from '../../src/core/chunks.js';
import { runUntil, Recorder, Collector, tcpPair, iterationsOver, onSim, simSeed, testRandomBytes } from '../helpers.js';

// The sim pass replays with its seed: fast-check's too.
if (onSim()) fc.configureGlobal({ seed: simSeed() });

afterEach(() => DangaSocket.reset());

// ---------------------------------------------------------------- pure: inbound.ts

/** Bytes from a small alphabet most of the time, so that delimiters (and near misses) occur. */
const byte = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }, { arbitrary: fc.constantFrom(10, 13, 97, 98), weight: 3 });
const bytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.array(byte, { maxLength }).map((a) => Buffer.from(a));

/** `data` cut at random points into non-empty Buffers (views of it, as socket reads are of a slab). */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (data.length === 0 ? 0 : c % data.length)))].filter((c) => c > 0).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, data.length]) {
    if (c > prev) out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

test('indexOfChunks finds what indexOf finds in the joined bytes, from any offset, across Buffer boundaries', () => {
  fc.assert(
    fc.property(
      bytes(200),
      fc.array(fc.nat(), { maxLength: 30 }),
      bytes(4).filter((d) => d.length > 0),
      fc.nat(210),
      (data, cuts, delim, from) => {
        const chunks = split(data, cuts);
        const expected = data.indexOf(delim, from);
        const found = chunks.length === 0 ? -1 : indexOfChunks(chunks, data.length, delim, from);
        assert.equal(found, from > data.length ? -1 : expected);
      },
    ),
    { numRuns: 2000 },
  );
});

test('a search resumed from the scan offset as chunks arrive finds the first delimiter, each byte searched about once', () => {
  fc.assert(
    fc.property(
      bytes(300),
      fc.array(fc.nat(), { maxLength: 40 }),
      bytes(4).filter((d) => d.length > 0),
      (data, cuts, delim) => {
        const arrived: Buffer[] = [];
        let have = 0;
        let scanned = 0;
        let found = -1;
        for (const chunk of split(data, cuts)) {
          arrived.push(chunk);
          have += chunk.length;
          if (have - scanned < delim.length) continue;
          found = indexOfChunks(arrived, have, delim, scanned);
          if (found >= 0) break;
          scanned = have - delim.length + 1;
        }
        assert.equal(found, data.indexOf(delim));
      },
    ),
    { numRuns: 2000 },
  );
});

test('takeFront (with a delimiter to skip) and dropFront take bytes off the front: a view inside one Buffer, one copy across several', () => {
  fc.assert(
    fc.property(
      bytes(200).filter((d) => d.length > 0),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.nat(),
      fc.nat(5),
      fc.nat(),
      (data, cuts, a, s, b) => {
        const chunks = split(data, cuts);
        const n = a % (data.length + 1);
        const skip = Math.min(s, data.length - n);
        const inFirst = n <= (chunks[0] as Buffer).length;
        const before = framingCopies.bytes;
        const frame = takeFront(chunks, n, skip);
        assert.deepEqual(frame, data.subarray(0, n));
        assert.equal(framingCopies.bytes - before, inFirst ? 0 : n, 'copied only when it spans Buffers, and then once');
        if (inFirst && n > 0) assert.equal(frame.buffer, data.buffer, 'a view, not a copy');
        assert.deepEqual(Buffer.concat(chunks), data.subarray(n + skip), 'the skipped bytes are gone too');
        const m = b % (data.length - n - skip + 1);
        dropFront(chunks, m);
        assert.deepEqual(Buffer.concat(chunks), data.subarray(n + skip + m));
        assert.ok(
          chunks.every((c) => c.length > 0),
          'only non-empty Buffers stay',
        );
        if (chunks.length > 0) assert.equal(byteAt(chunks, 0), data[n + skip + m]);
      },
    ),
    { numRuns: 3000 },
  );
});

/** The frames of `data` by the rules of readLine (`line`: a CR before the LF goes too) or readUntil, and what is left after the last. */
function referenceFrames(data: Buffer, delim: Buffer, line: boolean): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let at = 0;
  for (;;) {
    const i = data.indexOf(delim, at);
    if (i < 0) return { frames, rest: data.subarray(at) };
    const end = line && i > at && data[i - 1] === 13 ? i - 1 : i;
    frames.push(data.subarray(at, end));
    at = i + delim.length;
  }
}

test('Inbound.scan over bytes arriving in any split gives the frames of the joined bytes, in order, and holds exactly the rest', () => {
  fc.assert(
    fc.property(bytes(300), fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), bytes(3), (data, cuts, line, d) => {
      const delim = line || d.length === 0 ? Buffer.from('\n') : d;
      const inb = new Inbound();
      const got: Buffer[] = [];
      for (const chunk of split(data, cuts)) {
        inb.append(chunk);
        for (;;) {
          const r = inb.scan(delim, 1000, line);
          assert.notEqual(r, TOO_LONG);
          if (r === undefined) break;
          got.push(Buffer.from(r as Buffer));
        }
      }
      const want = referenceFrames(data, delim, line);
      assert.deepEqual(got, want.frames);
      assert.deepEqual(Buffer.concat(inb.chunks), want.rest);
      assert.equal(inb.bytes, want.rest.length);
      assert.equal(inb.frames, want.frames.length);
      assert.equal(inb.socketBytes, data.length);
      assert.ok(inb.chunks.every((c) => c.length > 0));
    }),
    { numRuns: 2000 },
  );
});

test('Inbound.scan says TOO_LONG only for a frame that cannot fit, consumes nothing then, and says it once no delimiter can start in time', () => {
  fc.assert(
    fc.property(bytes(120), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), fc.nat(60), (data, cuts, line, maxBytes) => {
      const delim = line ? Buffer.from('\n') : Buffer.from('ab');
      const inb = new Inbound();
      const seen: Buffer[] = [];
      for (const chunk of split(data, cuts)) {
        seen.push(chunk);
        inb.append(chunk);
        const before = Buffer.concat(inb.chunks);
        const r = inb.scan(delim, maxBytes, line);
        if (r === TOO_LONG) {
          assert.deepEqual(Buffer.concat(inb.chunks), before, 'nothing consumed');
          // Whatever comes next, the first frame is longer than maxBytes.
          const first = referenceFrames(Buffer.concat([before, delim]), delim, line).frames[0] as Buffer;
          assert.ok(first.length > maxBytes, `TOO_LONG for a ${first.length}-byte frame (max ${maxBytes})`);
          return;
        }
        if (r !== undefined) {
          assert.ok(r.length <= maxBytes);
          return;
        }
        // Not decided yet: then a delimiter may still start in time.
        const held = before.length;
        if (line) assert.ok(held < maxBytes + 2 && !(held === maxBytes + 1 && before[maxBytes] !== 13), `undecided with ${held} bytes (max ${maxBytes})`);
        else assert.ok(held < maxBytes + delim.length, `undecided with ${held} bytes (max ${maxBytes})`);
      }
    }),
    { numRuns: 3000 },
  );
});

test('Inbound push / takeSome / take keep the byte order and the count, and hold no empty Buffer', () => {
  const op = fc.oneof(fc.record({ push: bytes(50) }), fc.record({ some: fc.integer({ min: 1, max: 80 }) }), fc.record({ take: fc.nat(80) }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const inb = new Inbound();
      const pushed: Buffer[] = [];
      const taken: Buffer[] = [];
      let frames = 0;
      for (const o of ops) {
        if ('push' in o) {
          if (o.push.length === 0) continue; // pushBackRead ignores an empty Buffer
          inb.push(o.push);
          pushed.push(o.push);
        } else if ('some' in o) {
          if (inb.bytes === 0) continue;
          const b = inb.takeSome(o.some);
          assert.ok(b.length > 0 && b.length <= o.some);
          taken.push(b);
        } else {
          const n = Math.min(o.take, inb.bytes);
          const b = inb.take(n);
          assert.equal(b.length, n);
          taken.push(b);
          frames++;
        }
        const all = Buffer.concat(pushed);
        const out = Buffer.concat(taken);
        assert.deepEqual(out, all.subarray(0, out.length));
        assert.equal(inb.bytes, all.length - out.length);
        assert.ok(inb.chunks.every((c) => c.length > 0));
      }
      assert.equal(inb.frames, frames);
    }),
    { numRuns: 2000 },
  );
});

test('Inbound: any mix of take, takeSome, peekHeld, byteHeld, scan, scanFrame, append, push and unshift over random splits acts on the joined bytes', () => {
  // Frames taken off the first Buffer move an offset into it (no view of the
  // rest is made): this drives every operation from such an offset, never
  // looking at `chunks` (which cuts the list) until the end.
  const lf = Buffer.from('\n');
  const ab = Buffer.from('ab');
  const short = frameSpec({ lengthBytes: 1, lengthOffset: 1, headerBytes: 2 });
  const op = fc.oneof(
    { arbitrary: fc.record({ append: bytes(60), cuts: fc.array(fc.nat(), { maxLength: 6 }) }), weight: 3 },
    fc.record({ push: bytes(20) }),
    fc.record({ unshift: bytes(20) }),
    { arbitrary: fc.record({ take: fc.nat(40) }), weight: 3 },
    fc.record({ some: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ peek: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ byte: fc.nat(40) }),
    { arbitrary: fc.record({ scan: fc.constantFrom('line', 'lf', 'ab') }), weight: 3 },
    { arbitrary: fc.record({ frame: fc.boolean() }), weight: 2 },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const inb = new Inbound();
      let held = Buffer.alloc(0);
      let frames = 0;
      for (const o of ops) {
        if ('append' in o) {
          for (const c of split(o.append, o.cuts)) inb.append(c);
          held = Buffer.concat([held, o.append]);
        } else if ('push' in o) {
          if (o.push.length === 0) continue;
          inb.push(o.push);
          held = Buffer.concat([held, o.push]);
        } else if ('unshift' in o) {
          if (o.unshift.length === 0) continue;
          inb.unshift(o.unshift);
          held = Buffer.concat([o.unshift, held]);
        } else if ('take' in o) {
          const n = Math.min(o.take, held.length);
          assert.deepEqual(inb.take(n), held.subarray(0, n));
          held = held.subarray(n);
          frames++;
        } else if ('some' in o) {
          if (held.length === 0) continue;
          const b = inb.takeSome(o.some);
          assert.ok(b.length > 0 && b.length <= o.some);
          assert.deepEqual(b, held.subarray(0, b.length));
          held = held.subarray(b.length);
        } else if ('peek' in o) {
          if (held.length === 0) continue;
          assert.deepEqual(inb.peekHeld(o.peek), held.subarray(0, o.peek));
        } else if ('byte' in o) {
          if (held.length <= o.byte) continue;
          assert.equal(inb.byteHeld(o.byte), held[o.byte]);
        } else if ('scan' in o) {
          const delim = o.scan === 'ab' ? ab : lf;
          const line = o.scan === 'line';
          const r = inb.scan(delim, 1000, line);
          const at = held.indexOf(delim);
          if (at < 0) {
            assert.equal(r, undefined);
            continue;
          }
          const end = line && at > 0 && held[at - 1] === 13 ? at - 1 : at;
          assert.deepEqual(r, held.subarray(0, end));
          held = held.subarray(at + delim.length);
          frames++;
        } else {
          const spec = o.frame ? short : frameSpec({ lengthBytes: 2, endian: 'le', keepHeader: true });
          const r = inb.scanFrame(spec, 1000);
          const len = held.length < spec.headerBytes ? -1 : o.frame ? (held[1] as number) : held.readUInt16LE(0);
          if (len > 1000) {
            assert.equal(r, TOO_LONG, 'as soon as the header is in');
            continue;
          }
          if (len < 0 || held.length < spec.headerBytes + len) {
            assert.equal(r, undefined);
            continue;
          }
          assert.deepEqual(r, held.subarray(spec.keepHeader ? 0 : spec.headerBytes, spec.headerBytes + len));
          held = held.subarray(spec.headerBytes + len);
          frames++;
        }
        assert.equal(inb.bytes, held.length);
      }
      assert.equal(inb.frames, frames);
      assert.deepEqual(Buffer.concat(inb.chunks), held);
      assert.ok(inb.chunks.every((c) => c.length > 0));
    }),
    { numRuns: 3000 },
  );
});

test('taking 1 MiB off sixteen 64 KiB Buffers copies 1 MiB once', () => {
  const data = testRandomBytes(1024 * 1024);
  const chunks = split(
    data,
    Array.from({ length: 16 }, (_, i) => i * 65536),
  );
  assert.equal(chunks.length, 16);
  const before = framingCopies.bytes;
  const frame = takeFront(chunks, data.length);
  assert.equal(framingCopies.bytes - before, data.length);
  assert.ok(frame.equals(data));
  assert.equal(chunks.length, 0);
});

/** A length-prefixed frame's layout: 1, 2 or 4 bytes of length, either order, at an offset, in a longer header, counting the header or not. */
const formatArb = fc
  .record({
    lengthBytes: fc.constantFrom(1 as const, 2 as const, 4 as const),
    endian: fc.constantFrom('be' as const, 'le' as const),
    lengthOffset: fc.nat(3),
    extra: fc.nat(3),
    countsHeader: fc.boolean(),
    keepHeader: fc.boolean(),
  })
  .map(({ lengthBytes, endian, lengthOffset, extra, countsHeader, keepHeader }) => {
    const headerBytes = lengthOffset + lengthBytes + extra;
    return { lengthBytes, endian, lengthOffset, headerBytes, adjust: countsHeader ? -headerBytes : 0, keepHeader };
  });

/** The wire bytes of a frame of `payload` in `spec` (the header's other bytes random), and what readFrame hands out for it. */
function encodeFrame(spec: FrameSpec, payload: Buffer, filler: number): { wire: Buffer; expected: Buffer } {
  const header = Buffer.alloc(spec.headerBytes, filler);
  const field = payload.length - spec.adjust;
  const w = spec.lengthBytes;
  if (w === 1) header.writeUInt8(field, spec.lengthOffset);
  else if (spec.littleEndian) header.writeUIntLE(field, spec.lengthOffset, w);
  else header.writeUIntBE(field, spec.lengthOffset, w);
  const wire = Buffer.concat([header, payload]);
  return { wire, expected: spec.keepHeader ? wire : payload };
}

test('Inbound.scanFrame over bytes arriving in any split gives the frames that were sent, in order, and holds exactly the rest', () => {
  fc.assert(
    fc.property(
      formatArb,
      fc.array(bytes(200), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.nat(255),
      fc.nat(50),
      (format, payloads, cuts, filler, cutLast) => {
        const spec = frameSpec(format);
        const frames = payloads.map((p) => encodeFrame(spec, p, filler));
        const whole = Buffer.concat(frames.map((f) => f.wire));
        // The last frame may be cut short: it stays held.
        const data = whole.subarray(0, Math.max(0, whole.length - cutLast));
        const inb = new Inbound();
        const got: Buffer[] = [];
        for (const chunk of split(data, cuts)) {
          inb.append(chunk);
          for (;;) {
            const r = inb.scanFrame(spec, 1000);
            assert.notEqual(r, TOO_LONG);
            if (r === undefined) break;
            got.push(Buffer.from(r as Buffer));
          }
        }
        let complete = 0;
        let used = 0;
        while (complete < frames.length && used + (frames[complete] as { wire: Buffer }).wire.length <= data.length) {
          used += (frames[complete] as { wire: Buffer }).wire.length;
          complete++;
        }
        assert.deepEqual(
          got,
          frames.slice(0, complete).map((f) => f.expected),
        );
        assert.deepEqual(Buffer.concat(inb.chunks), data.subarray(used));
        assert.equal(inb.bytes, data.length - used);
        assert.ok(inb.chunks.every((c) => c.length > 0));
      },
    ),
    { numRuns: 2000 },
  );
});

test('Inbound.scanFrame says TOO_LONG for a payload above maxBytes as soon as the header is in, and consumes nothing', () => {
  fc.assert(
    fc.property(formatArb, bytes(200), fc.nat(250), fc.array(fc.nat(), { maxLength: 10 }), (format, payload, maxBytes, cuts) => {
      const spec = frameSpec(format);
      const { wire, expected } = encodeFrame(spec, payload, 7);
      const inb = new Inbound();
      for (const chunk of split(wire, cuts)) {
        inb.append(chunk);
        const before = Buffer.concat(inb.chunks);
        const r = inb.scanFrame(spec, maxBytes);
        if (payload.length > maxBytes) {
          assert.equal(r, inb.bytes >= spec.headerBytes ? TOO_LONG : undefined);
          assert.deepEqual(Buffer.concat(inb.chunks), before, 'nothing consumed');
        } else if (r !== undefined) {
          assert.deepEqual(Buffer.from(r as Buffer), expected);
          assert.equal(inb.bytes, 0);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('Inbound.scanFrame: a header announcing a negative payload throws ERR_DANGA_FRAME_INVALID and consumes nothing', () => {
  const code = (c: string) => (err: Error & { code?: string }) => err.code === c;
  const inb = new Inbound();
  inb.append(Buffer.from([0, 3, 1, 2, 3]));
  assert.throws(() => inb.scanFrame(frameSpec({ lengthBytes: 2, adjust: -4 }), 100), code('ERR_DANGA_FRAME_INVALID'));
  assert.equal(inb.bytes, 5, 'nothing consumed');
});

// ---------------------------------------------------------------- over sockets

type Op =
  | { readonly kind: 'line'; readonly wire: Buffer; readonly expected: Buffer; readonly max: number }
  | { readonly kind: 'until'; readonly wire: Buffer; readonly expected: Buffer; readonly delim: Buffer; readonly max: number }
  | { readonly kind: 'exact'; readonly wire: Buffer; readonly expected: Buffer }
  | { readonly kind: 'frame'; readonly wire: Buffer; readonly expected: Buffer; readonly format: ReturnType<typeof formatOf>; readonly max: number };

/** The FrameFormat of a generated layout. */
const formatOf = (f: { lengthBytes: 1 | 2 | 4; endian: 'be' | 'le'; lengthOffset: number; headerBytes: number; adjust: number; keepHeader: boolean }) => f;

/** A line (no LF inside) ended by LF or CRLF; readLine drops a CR before the LF, so a content ending in CR then LF loses it. */
const lineOp = fc.record({ content: bytes(300), crlf: fc.boolean(), slack: fc.nat(2) }).map(({ content, crlf, slack }): Op => {
  const text = Buffer.from(content.map((b) => (b === 10 ? 32 : b)));
  const wire = Buffer.concat([text, Buffer.from(crlf ? '\r\n' : '\n')]);
  const expected = !crlf && text.at(-1) === 13 ? text.subarray(0, -1) : text;
  return { kind: 'line', wire, expected, max: expected.length + slack };
});

/** A frame ended by a random delimiter of 1 to 4 bytes, cut where the delimiter would first occur so it ends the frame. */
const untilOp = fc.record({ content: bytes(300), delim: bytes(4).filter((d) => d.length > 0), slack: fc.nat(2) }).map(({ content, delim, slack }): Op => {
  const first = Buffer.concat([content, delim]).indexOf(delim);
  const text = content.subarray(0, first);
  return { kind: 'until', wire: Buffer.concat([text, delim]), expected: text, delim, max: text.length + slack };
});

const exactOp = bytes(300).map((content): Op => ({ kind: 'exact', wire: content, expected: content }));

/** A length-prefixed frame (readFrame) of a random layout. */
const frameOp = fc.record({ format: formatArb, payload: bytes(250), filler: fc.nat(255) }).map(({ format, payload, filler }): Op => {
  const { wire, expected } = encodeFrame(frameSpec(format), payload, filler);
  return { kind: 'frame', wire, expected, format: formatOf(format), max: payload.length };
});

/** Now and then a frame bigger than a read (64 KiB), so that it spans reads and is copied. */
const bigOp = fc.record({ kind: fc.constantFrom('line', 'until', 'exact'), size: fc.integer({ min: 65536, max: 200_000 }) }).map(({ kind, size }): Op => {
  const body = testRandomBytes(size);
  if (kind === 'exact') return { kind, wire: body, expected: body };
  for (let i = 0; i < body.length; i++) if (body[i] === 10) body[i] = 32;
  if (kind === 'line') return { kind, wire: Buffer.concat([body, Buffer.from('\r\n')]), expected: body, max: 256 * 1024 };
  const delim = Buffer.from('\n--\n');
  return { kind, wire: Buffer.concat([body, delim]), expected: body, delim, max: size };
});

const anyOp = fc.oneof(
  { arbitrary: lineOp, weight: 6 },
  { arbitrary: untilOp, weight: 6 },
  { arbitrary: exactOp, weight: 6 },
  { arbitrary: frameOp, weight: 6 },
  { arbitrary: bigOp, weight: 1 },
);

/** Reads the ops' frames in order, `perEvent` of them per eventRead (1: returns after each, like a handler applying backpressure). */
class FrameReader extends DangaSocket {
  readonly frames: Buffer[] = [];
  events = 0;
  eof = false;
  constructor(
    sock: Sock,
    private readonly ops: readonly Op[],
    private readonly perEvent: number,
  ) {
    super(sock);
    this.watchRead(true);
  }
  override eventRead(): void {
    this.events++;
    for (let taken = 0; taken < this.perEvent && this.frames.length < this.ops.length; taken++) {
      const op = this.ops[this.frames.length] as Op;
      const frame =
        op.kind === 'line'
          ? this.readLine(op.max)
          : op.kind === 'until'
            ? this.readUntil(op.delim, op.max)
            : op.kind === 'frame'
              ? this.readFrame(op.format, op.max)
              : this.readExact(op.expected.length);
      if (frame === undefined) return;
      if (frame === null) {
        this.eof = true;
        this.close('eof');
        return;
      }
      this.frames.push(Buffer.from(frame));
    }
  }
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

/**
 * Writes `pieces` from `writer`, the next one only after the reader had an
 * eventRead since the last: the pieces reach the reader as separate reads
 * (mostly), so frames and delimiters straddle reads where the cuts fell.
 */
async function feed(writer: DangaSocket, reader: FrameReader, pieces: readonly Buffer[], done: () => boolean): Promise<void> {
  let next = 0;
  let eventsAtWrite = -1;
  await runUntil(() => {
    if (next < pieces.length && reader.events > eventsAtWrite) {
      eventsAtWrite = reader.events;
      writer.write(pieces[next++]);
    }
    return done() || reader.closed;
  });
}

test(
  'random frames (lines with LF and CRLF, multi-byte delimiters, exact sizes) written in random pieces come back the same, in order',
  { timeout: 600_000 },
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyOp, { minLength: 1, maxLength: 25 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.constantFrom(1, Infinity),
        fc.constantFrom('pair', 'tcp'),
        async (ops, cuts, perEvent, kind) => {
          try {
            const [a, b] = kind === 'pair' ? socketPair() : await tcpPair();
            // A last line, so that the wire is never empty (all frames of 0 bytes) and the reader reads to its end.
            ops = [...ops, { kind: 'line', wire: Buffer.from('end\n'), expected: Buffer.from('end'), max: 3 }];
            const reader = new FrameReader(a, ops, perEvent);
            const writer = new Collector(b);
            const wire = Buffer.concat(ops.map((op) => op.wire));
            await feed(writer, reader, split(wire, cuts), () => reader.frames.length === ops.length);
            assert.equal(reader.closed, false, 'no end of stream, no error');
            assert.deepEqual(
              reader.frames,
              ops.map((op) => op.expected),
            );
            assert.equal(reader.readSome(1), undefined, 'every byte was consumed');
          } finally {
            DangaSocket.reset();
          }
        },
      ),
      { numRuns: 150 },
    );
  },
);

test('a 1 MiB readExact arriving in 64 KiB reads copies each byte once (no joining as it grows)', { timeout: 60_000 }, async () => {
  const [a, b] = socketPair();
  const data = testRandomBytes(1024 * 1024);
  const ops: Op[] = [{ kind: 'exact', wire: data, expected: data }];
  const reader = new FrameReader(a, ops, 1);
  const writer = new Collector(b);
  const pieces = split(
    data,
    Array.from({ length: 16 }, (_, i) => i * 65536),
  );
  const before = framingCopies.bytes;
  await feed(writer, reader, pieces, () => reader.frames.length === 1);
  assert.ok(reader.events >= 2, 'the frame took several reads');
  assert.equal(framingCopies.bytes - before, data.length, 'one copy of 1 MiB, into the frame');
  assert.equal(
    createHash('sha256')
      .update(reader.frames[0] as Buffer)
      .digest('hex'),
    createHash('sha256').update(data).digest('hex'),
  );
});

test('a 180 kB line with maxBytes 256 KiB works (over TCP)', { timeout: 60_000 }, async () => {
  const [a, b] = await tcpPair();
  const key = Buffer.alloc(180_000, 'k');
  const reader = new Recorder(a);
  const lines: Buffer[] = [];
  reader.onRead = (self) => {
    let line: Buffer | undefined | null;
    while ((line = self.readLine(256 * 1024)) !== undefined && line !== null) lines.push(Buffer.from(line));
  };
  reader.watchRead(true);
  const writer = new Collector(b);
  writer.write(Buffer.concat([Buffer.from('get '), key, Buffer.from('\r\nquit\r\n')]));
  await runUntil(() => lines.length === 2);
  assert.equal(lines[0]?.length, 4 + key.length);
  assert.ok(lines[0]?.subarray(4).equals(key));
  assert.equal(lines[1]?.toString(), 'quit');
});

/** A socket pair whose reader side calls `onRead` on eventRead; the writer is a Collector. */
function readerAndWriter(onRead: (self: Recorder) => void): { reader: Recorder; writer: Collector } {
  const [a, b] = socketPair();
  const reader = new Recorder(a);
  reader.onRead = onRead;
  reader.watchRead(true);
  return { reader, writer: new Collector(b) };
}

const tooLong = (maxBytes: number) => (err: Error & { code?: string; maxBytes?: number }) =>
  !(err instanceof TypeError) &&
  !(err instanceof RangeError) &&
  err.code === 'ERR_DANGA_FRAME_TOO_LONG' &&
  err.maxBytes === maxBytes &&
  err.message.includes(`maxBytes (${maxBytes} bytes)`);

test('no line end within maxBytes throws ERR_DANGA_FRAME_TOO_LONG naming the limit; the data stays', async () => {
  let err: unknown;
  let rest: Buffer | null = null;
  const { writer } = readerAndWriter((self) => {
    try {
      self.readLine(16);
    } catch (e) {
      err = e;
      rest = self.read(100);
    }
  });
  writer.write('0123456789abcdefX'); // 17 bytes, the 17th not a CR: too long already
  await runUntil(() => err !== undefined);
  assert.ok(tooLong(16)(err as Error), String(err));
  assert.equal((rest as Buffer | null)?.toString(), '0123456789abcdefX', 'nothing was consumed');
});

test('maxBytes is the longest line or frame without its terminator: exactly maxBytes works, one more throws', async () => {
  const results: string[] = [];
  const { reader, writer } = readerAndWriter((self) => {
    for (;;) {
      try {
        const step = results.length;
        const frame = step < 3 ? self.readLine(4) : self.readUntil('<>', 4);
        if (frame === undefined || frame === null) return;
        results.push(frame.toString());
      } catch (e) {
        results.push((e as Error & { code?: string }).code ?? 'no code');
        self.close('too long');
        return;
      }
    }
  });
  // 4 bytes + CRLF, 4 + LF, an empty line, 4 + '<>', then 5 and '<>' too late.
  writer.write('abcd\r\nefgh\n\r\nijkl<>mnopq<>');
  await runUntil(() => reader.closed);
  assert.deepEqual(results, ['abcd', 'efgh', '', 'ijkl', 'ERR_DANGA_FRAME_TOO_LONG']);
});

test('readUntil with a delimiter found only past maxBytes throws, also when that is decided by bytes that arrive later', async () => {
  let err: unknown;
  let calls = 0;
  const { writer } = readerAndWriter((self) => {
    calls++;
    try {
      const frame = self.readUntil(Buffer.from('\r\n\r\n'), 8);
      if (frame !== undefined) err = new Error(`unexpected frame ${String(frame)}`);
    } catch (e) {
      err = e;
      self.watchRead(false);
    }
  });
  // 8 bytes and half a delimiter: a frame of exactly maxBytes if the other half follows.
  writer.write('01234567\r\n');
  await runUntil(() => calls > 0);
  assert.equal(err, undefined, 'not decided yet');
  writer.write('x\r\n\r\n');
  await runUntil(() => err !== undefined);
  assert.ok(tooLong(8)(err as unknown as Error), String(err));
});

test('a handler that takes one line per eventRead gets every pipelined line; the partial rest does not spin the loop', { timeout: 30_000 }, async () => {
  const lines: string[] = [];
  let calls = 0;
  let last: Buffer | undefined | null;
  const { writer } = readerAndWriter((self) => {
    calls++;
    last = self.readLine(100);
    if (last instanceof Buffer) lines.push(last.toString());
  });
  const sent = Array.from({ length: 50 }, (_, i) => `line ${i}`);
  writer.write(sent.join('\r\n') + '\r\npartial');
  await runUntil(() => lines.length === 50 && last === undefined);
  assert.deepEqual(lines, sent);
  // The partial line waits for the socket: no eventRead, no iteration, until
  // more arrives. 40 turns of Node's loop would see 40 iterations if it spun.
  const callsBefore = calls;
  const n = await iterationsOver(40);
  assert.ok(n <= 3, `the loop ran ${n} iterations over 40 turns of Node's loop while a partial line waited`);
  assert.equal(calls, callsBefore, 'not re-fired for the partial line');
  writer.write(' line\n');
  await runUntil(() => lines.length === 51);
  assert.equal(lines[50], 'partial line');
});

test('peekByte() at an offset not there yet does not spin the loop: the handler is called again when more arrives', { timeout: 30_000 }, async () => {
  const got: Array<number | undefined | null> = [];
  const { writer } = readerAndWriter((self) => {
    got.push(self.peekByte(3));
  });
  writer.write('ab');
  await runUntil(() => got.length > 0);
  assert.deepEqual(got, [undefined]);
  const n = await iterationsOver(40);
  assert.ok(n <= 3, `the loop ran ${n} iterations over 40 turns of Node's loop while 2 of 4 bytes waited`);
  assert.equal(got.length, 1, 'not re-fired for the held bytes');
  writer.write('cd');
  await runUntil(() => got.some((g) => g === 0x64));
});

test('an empty frame taken on its own (readExact(0)) counts as progress: the frames buffered after it are still delivered', { timeout: 30_000 }, async () => {
  // Found by the property test on the node engine: one frame per eventRead,
  // an empty one consumed nothing, and the next frame stayed parked.
  const sizes = [3, 0, 3];
  const frames: string[] = [];
  const { writer } = readerAndWriter((self) => {
    const frame = self.readExact(sizes[frames.length] ?? 1);
    if (frame instanceof Buffer) frames.push(frame.toString());
  });
  writer.write('abcdef');
  await runUntil(() => frames.length === 3);
  assert.deepEqual(frames, ['abc', '', 'def']);
});

test('a partial frame of readExact and readUntil does not spin the loop either', { timeout: 30_000 }, async () => {
  const cases: Array<[(s: DangaSocket) => Buffer | undefined | null, string]> = [
    [(s) => s.readExact(10), '12345END89'],
    [(s) => s.readUntil('END', 100), '12345'],
  ];
  for (const [take, expected] of cases) {
    const got: Array<Buffer | undefined | null> = [];
    const { writer } = readerAndWriter((self) => {
      got.push(take(self));
    });
    writer.write('12345E'); // for readUntil, the E may begin the delimiter
    await runUntil(() => got.length > 0);
    const callsBefore = got.length;
    const n = await iterationsOver(40);
    assert.ok(n <= 3, `the loop ran ${n} iterations over 40 turns of Node's loop`);
    assert.equal(got.length, callsBefore, 'not re-fired for the partial frame');
    writer.write('ND890');
    await runUntil(() => got.some((g) => g instanceof Buffer));
    assert.deepEqual(got.filter((g) => g !== undefined).map(String), [expected]);
    DangaSocket.reset();
  }
});

/** A reader that only reads when the test asks; the test reads the end of stream itself. */
class Quiet extends DangaSocket {
  override eventRead(): void {}
  override eventErr(): void {
    this.close('err');
  }
  override eventHup(): void {}
}

test('peek() looks without consuming; unshiftRead() puts bytes in front of everything held, pushBackRead() appends', async () => {
  const [a, b] = socketPair();
  const reader = new Quiet(a);
  const writer = new Quiet(b);
  assert.equal(reader.peek(1)?.length, 0, 'nothing yet: an empty Buffer');
  writer.write('hello world\n');
  await runUntil(() => reader.peek(100)?.length === 12);
  assert.equal(reader.peek(5)?.toString(), 'hello');
  assert.equal(reader.peek(100)?.toString(), 'hello world\n', 'peeking again gives the same bytes');
  assert.equal(reader.readLine(100)?.toString(), 'hello world', 'and a read still gets them');
  // A partial line is scanned, then bytes are put in front of it: the search starts over.
  reader.pushBackRead('ab');
  assert.equal(reader.readLine(100), undefined);
  reader.unshiftRead('1\n');
  assert.equal(reader.peek(3)?.toString(), '1\na', 'a copy across the held pieces');
  assert.equal(reader.readLine(100)?.toString(), '1');
  reader.pushBackRead('c');
  reader.unshiftRead(Buffer.from('0'));
  assert.equal(reader.readExact(4)?.toString(), '0abc', 'unshiftRead in front, pushBackRead behind');
  assert.throws(() => reader.peek(0), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => reader.peek('1' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => reader.unshiftRead(5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  writer.close('done');
  await runUntil(() => reader.peek(1) === null);
  assert.equal(reader.closed, false, 'null for the end of stream, not for a close');
  reader.close('done');
  assert.equal(reader.peek(1), null, 'closed');
});

test('peekByte() tells the byte at an offset without consuming or making a Buffer: undefined until it is there, null at the end and once closed', async () => {
  const [a, b] = socketPair();
  const reader = new Quiet(a);
  const writer = new Quiet(b);
  assert.equal(reader.peekByte(), undefined, 'nothing yet');
  writer.write('ab');
  await runUntil(() => reader.peekByte() === 0x61);
  assert.equal(reader.peekByte(1), 0x62);
  assert.equal(reader.peekByte(2), undefined, 'not that far yet: what is there stays');
  assert.equal(reader.peekByte(0), 0x61, 'nothing consumed');
  // Across held pieces, and in front of them after unshiftRead.
  reader.pushBackRead('c');
  assert.equal(reader.peekByte(2), 0x63);
  reader.unshiftRead('\0');
  assert.equal(reader.peekByte(), 0);
  assert.equal(reader.peekByte(3), 0x63);
  assert.equal(reader.readExact(4)?.toString('latin1'), '\0abc', 'and a read still gets them all');
  writer.write('x');
  await runUntil(() => reader.peekByte() === 0x78);
  assert.throws(() => reader.peekByte(-1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => reader.peekByte(1.5), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => reader.peekByte('1' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  writer.close('done');
  await runUntil(() => reader.peekByte(1) === null);
  assert.equal(reader.closed, false, 'null for the end of stream, not for a close');
  assert.equal(reader.peekByte(), 0x78, 'the held byte is still there at the end');
  assert.equal(reader.read(10)?.toString(), 'x');
  reader.close('done');
  assert.equal(reader.peekByte(), null, 'closed');
});

test('read() after readLine() returns the bytes after the line; pushed-back bytes are seen by the next readLine()', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  r.pushBackRead('GET /');
  r.pushBackRead('x HTTP/1.0\r\nHost: h\r\n\r\nbody');
  assert.equal(r.readLine(100)?.toString(), 'GET /x HTTP/1.0');
  assert.equal(r.read(3)?.toString(), 'Hos');
  r.pushBackRead(Buffer.from('more'));
  assert.equal(r.readLine(100)?.toString(), 't: h');
  assert.equal(r.readLine(100)?.toString(), '');
  assert.equal(r.readLine(100), undefined, 'no complete line: "bodymore" is kept');
  assert.equal(r.readExact(4)?.toString(), 'body');
  assert.equal(r.readSome(100)?.toString(), 'more');
  assert.equal(r.readSome(100), undefined, 'nothing left, nothing on the socket yet');
  b.close();
});

test('mixed readLine / readUntil / readExact / read / pushBackRead over a socket keep the byte order', async () => {
  const got: string[] = [];
  const { reader, writer } = readerAndWriter((self) => {
    if (got.length === 0) {
      const line = self.readLine(100);
      if (line === undefined || line === null) return;
      got.push(`line:${line.toString()}`);
      // A reader that takes what is there and pushes back what it does not want yet.
      const some = self.read(5);
      got.push(`read:${some?.toString()}`);
      if (some !== null) self.pushBackRead(some);
      return;
    }
    const frame = got.length === 2 ? self.readUntil('||', 100) : got.length === 3 ? self.readExact(3) : self.readSome(100);
    if (frame === undefined || frame === null) return;
    got.push(frame.toString());
  });
  writer.write('first\nab');
  await runUntil(() => got.length >= 2);
  writer.write('cd||xyzrest');
  await runUntil(() => got.length === 5);
  assert.deepEqual(got, ['line:first', 'read:ab', 'abcd', 'xyz', 'rest']);
  assert.equal(reader.closed, false);
});

test('at end of stream the helpers return null; a partial line left there stays readable with read()', async () => {
  const results: Array<string | null | undefined> = [];
  let tail: string | undefined;
  const { reader, writer } = readerAndWriter((self) => {
    const line = self.readLine(100);
    results.push(line === undefined || line === null ? line : line.toString());
    if (line === null) {
      tail = self.read(100)?.toString();
      assert.equal(self.read(100), null, 'then the end of stream');
      assert.equal(self.readExact(1), null);
      assert.equal(self.readUntil('x', 1), null);
      assert.equal(self.readSome(1), null);
      self.close('eof');
    }
  });
  writer.write('whole\nhalf');
  writer.write(() => (writer.sock() as Sock).shutdown('write'));
  await runUntil(() => reader.closed);
  assert.equal(results[0], 'whole');
  assert.equal(results.at(-1), null);
  assert.equal(tail, 'half');
  for (const call of [() => reader.readLine(1), () => reader.readUntil('\n', 1), () => reader.readExact(1), () => reader.readSome(1)]) {
    assert.equal(call(), null, 'closed');
  }
  assert.equal(reader.readExact(0), null, 'closed, even for 0 bytes');
});

test('a Connection (eofOnce) that reads lines sees end of stream once: the helpers turn read interest off, the partial line stays', async () => {
  const results: Array<string | null | undefined> = [];
  class Lines extends Connection {
    override eventRead(): void {
      let line: Buffer | undefined | null;
      do {
        line = this.readLine(100);
        results.push(line === undefined || line === null ? line : line.toString());
      } while (line instanceof Buffer);
    }
  }
  const [a, b] = socketPair();
  const c = new Lines(a);
  const writer = new Collector(b);
  writer.write('one\ntwo\nhalf');
  writer.write(() => (writer.sock() as Sock).shutdown('write'));
  await runUntil(() => results.includes(null));
  // Read interest is off now: give the loop turns in which a level-triggered
  // end of stream would fire eventRead again.
  const calls = results.length;
  await iterationsOver(10);
  assert.equal(results.length, calls, 'end of stream delivered once');
  assert.deepEqual(
    results.filter((r) => r !== undefined),
    ['one', 'two', null],
  );
  assert.equal(c.readSome(100)?.toString(), 'half', 'the partial line stays readable');
  c.close('done');
});

test('readExact(0) is an empty Buffer; readSome tells nothing-yet (undefined) from data and the end', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  assert.deepEqual(r.readExact(0), Buffer.alloc(0));
  assert.equal(r.readSome(10), undefined);
  assert.equal(r.readLine(10), undefined);
  assert.equal(r.readExact(3), undefined);
  const got: Array<Buffer | undefined | null> = [];
  r.onRead = (self) => got.push(self.readSome(3));
  r.watchRead(true);
  const w = new Collector(b);
  w.write('abcd');
  const data = (): Buffer[] => got.filter((g): g is Buffer => g instanceof Buffer);
  await runUntil(() => data().length >= 2);
  assert.deepEqual(data().map(String), ['abc', 'd']);
  w.close();
  await runUntil(() => r.closed || got.at(-1) === null);
  assert.equal(got.at(-1), null);
});

test('bad arguments of the framing helpers give coded TypeErrors and RangeErrors', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  const expect = (fn: () => unknown, type: typeof TypeError | typeof RangeError, code: string, name: string): void => {
    assert.throws(fn, (err: Error & { code?: string }) => err instanceof type && err.code === code && err.message.includes(`"${name}"`));
  };
  for (const bad of ['4', 1n, null, undefined, {}, Symbol('x')] as unknown[]) {
    expect(() => r.readLine(bad as number), TypeError, 'ERR_INVALID_ARG_TYPE', 'maxBytes');
    expect(() => r.readUntil('\n', bad as number), TypeError, 'ERR_INVALID_ARG_TYPE', 'maxBytes');
    expect(() => r.readExact(bad as number), TypeError, 'ERR_INVALID_ARG_TYPE', 'n');
    expect(() => r.readSome(bad as number), TypeError, 'ERR_INVALID_ARG_TYPE', 'maxBytes');
  }
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    expect(() => r.readLine(bad), RangeError, 'ERR_OUT_OF_RANGE', 'maxBytes');
    expect(() => r.readUntil('\n', bad), RangeError, 'ERR_OUT_OF_RANGE', 'maxBytes');
    expect(() => r.readExact(bad), RangeError, 'ERR_OUT_OF_RANGE', 'n');
    expect(() => r.readSome(bad), RangeError, 'ERR_OUT_OF_RANGE', 'maxBytes');
  }
  expect(() => r.readSome(0), RangeError, 'ERR_OUT_OF_RANGE', 'maxBytes');
  for (const bad of [10, null, {}, [10]]) {
    expect(() => r.readUntil(bad as unknown as string, 10), TypeError, 'ERR_INVALID_ARG_TYPE', 'delimiter');
  }
  for (const empty of ['', Buffer.alloc(0), new Uint8Array(0)]) {
    expect(() => r.readUntil(empty, 10), TypeError, 'ERR_INVALID_ARG_VALUE', 'delimiter');
  }
  // Arguments are checked before anything is read: the pushed-back data is untouched.
  r.pushBackRead('kept');
  expect(() => r.readLine(-1), RangeError, 'ERR_OUT_OF_RANGE', 'maxBytes');
  assert.equal(r.read(10)?.toString(), 'kept');
  b.close();
});

test('readFrame on a socket: binary packets and text lines on one connection (a Gearman-style server peeks at the first byte), limits and bad formats', async () => {
  // A Gearman binary packet: "\0REQ", a 4-byte type, a 4-byte payload length, the payload.
  const GEARMAN = { lengthBytes: 4, lengthOffset: 8, keepHeader: true } as const;
  const packet = (type: number, payload: string): Buffer => {
    const head = Buffer.alloc(12);
    head.write('\0REQ', 0, 'latin1');
    head.writeUInt32BE(type, 4);
    head.writeUInt32BE(Buffer.byteLength(payload), 8);
    return Buffer.concat([head, Buffer.from(payload)]);
  };
  const seen: string[] = [];
  const [a, b] = socketPair();
  class Server extends DangaSocket {
    constructor(sock: Sock) {
      super(sock);
      this.watchRead(true);
    }
    override eventRead(): void {
      for (;;) {
        const first = this.peek(1);
        if (first === null) return this.close('eof');
        if (first.length === 0) return;
        if (first[0] === 0) {
          const p = this.readFrame(GEARMAN, 1 << 20);
          if (p === undefined) return;
          if (p === null) return this.close('eof');
          seen.push(`packet ${p.readUInt32BE(4)} ${p.subarray(12).toString()}`);
        } else {
          const line = this.readLine(1024);
          if (line === undefined) return;
          if (line === null) return this.close('eof');
          seen.push(`line ${line.toString()}`);
        }
      }
    }
    override eventHup(): void {
      this.close('hup');
    }
    override eventErr(): void {
      this.close('err');
    }
  }
  const server = new Server(a);
  const client = new Collector(b);
  const wire = Buffer.concat([packet(7, 'echo this'), Buffer.from('status\r\n'), packet(16, ''), Buffer.from('workers\n'), packet(1, 'x'.repeat(300))]);
  // One byte at a time: every header and every line straddles reads.
  let at = 0;
  await runUntil(() => {
    if (at < wire.length) client.write(wire.subarray(at, ++at));
    return seen.length === 5;
  }, 1);
  assert.deepEqual(seen, ['packet 7 echo this', 'line status', 'packet 16 ', 'line workers', `packet 1 ${'x'.repeat(300)}`]);

  // A payload above maxBytes throws once the header is in; nothing is consumed.
  const [c, d] = socketPair();
  const small = new Recorder(c);
  small.pushBackRead(packet(2, 'too long'));
  assert.throws(
    () => small.readFrame(GEARMAN, 7),
    (err: Error & { code?: string; maxBytes?: number }) => err.code === 'ERR_DANGA_FRAME_TOO_LONG' && err.maxBytes === 7,
  );
  assert.equal(small.readFrame(GEARMAN, 8)?.subarray(12).toString(), 'too long', 'the frame was still there');
  for (const bad of [null, 4, { lengthBytes: 8 }, { lengthBytes: 4, endian: 'pdp' }]) {
    assert.throws(
      () => small.readFrame(bad as never, 10),
      (err: Error & { code?: string }) => /^ERR_INVALID_ARG_(TYPE|VALUE)$/.test(err.code ?? ''),
    );
  }
  assert.throws(() => small.readFrame({ lengthBytes: 1 }, -1), { code: 'ERR_OUT_OF_RANGE' });
  small.close();
  assert.equal(small.readFrame({ lengthBytes: 1 }, 10), null, 'closed');
  d.close();
  server.close('done');
  client.close('done');
});
