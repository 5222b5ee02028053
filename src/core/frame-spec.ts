/**
 * FrameSpec: a length-prefixed frame's layout (readFrame's FrameFormat,
 * checked once and with its defaults filled in), and the payload length a
 * header announces. Pure: the frame scanner (inbound.ts) applies it.
 */
import { invalidArgType, invalidArgValue, validateInteger } from './errors.js';
import type { FrameFormat } from './socket-types.js';

/** A length-prefixed frame's layout, checked and with its defaults filled in (see DangaSocket.readFrame). */
export interface FrameSpec {
  /** Bytes of header before the payload (at least `lengthOffset + lengthBytes`). */
  readonly headerBytes: number;
  /** Where the length field starts in the header. */
  readonly lengthOffset: number;
  /** Width of the length field. */
  readonly lengthBytes: 1 | 2 | 4;
  readonly littleEndian: boolean;
  /** Added to the length field to get the payload's length. */
  readonly adjust: number;
  /** Hand out the header with the payload. */
  readonly keepHeader: boolean;
}

/** Checks a FrameFormat and fills in its defaults (readFrame() keeps the last one, so a format reused per call is checked once). */
export function frameSpec(format: FrameFormat): FrameSpec {
  if (format === null || typeof format !== 'object') throw invalidArgType('format', 'an object', format);
  const w = format.lengthBytes;
  if (w !== 1 && w !== 2 && w !== 4) throw invalidArgValue('format.lengthBytes', `must be 1, 2 or 4 (got ${String(w)})`);
  const endian = format.endian ?? 'be';
  if (endian !== 'be' && endian !== 'le') throw invalidArgValue('format.endian', `must be 'be' or 'le' (got ${String(endian)})`);
  const lengthOffset = format.lengthOffset === undefined ? 0 : validateInteger('format.lengthOffset', format.lengthOffset, 0, 0xffff);
  const headerBytes = format.headerBytes === undefined ? lengthOffset + w : validateInteger('format.headerBytes', format.headerBytes, lengthOffset + w, 0xffff);
  const adjust = format.adjust === undefined ? 0 : validateInteger('format.adjust', format.adjust, -0xffffffff, 0xffffffff);
  if (format.keepHeader !== undefined && typeof format.keepHeader !== 'boolean')
    throw invalidArgType('format.keepHeader', 'of type boolean', format.keepHeader);
  return { headerBytes, lengthOffset, lengthBytes: w, littleEndian: endian === 'le', adjust, keepHeader: format.keepHeader === true };
}

/** The payload length the header at offset `base` of `h` (which holds `spec.headerBytes` bytes from there at least) announces. */
export function frameLength(h: Buffer, spec: FrameSpec, base = 0): number {
  const at = base + spec.lengthOffset;
  const w = spec.lengthBytes;
  let n: number;
  if (w === 1) n = h[at] as number;
  else if (w === 2) n = spec.littleEndian ? h.readUInt16LE(at) : h.readUInt16BE(at);
  else n = spec.littleEndian ? h.readUInt32LE(at) : h.readUInt32BE(at);
  return n + spec.adjust;
}
