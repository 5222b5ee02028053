/**
 * parseProxyHeader (src/core/proxy-protocol.ts): the specification's
 * examples, every kind of bad input with its reason, and fast-check
 * properties over random headers (v1 and v2, every family, random TLVs),
 * random splits and random bytes. Pure: no sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseProxyHeader, type ProxyParseResult } from 'danga-socket';
import { encode, ipBytes, type Spec } from './fixtures/proxy-encode.js';
import { simSeed } from '../helpers.js';

const params = { seed: simSeed(), numRuns: 300 };

function ok(r: ProxyParseResult): Extract<ProxyParseResult, { status: 'done' }> {
  if (r.status !== 'done') assert.fail(JSON.stringify(r));
  return r;
}

function bad(data: Buffer | string, reason: string, max?: number): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const r = parseProxyHeader(buf, max);
  assert.equal(r.status, 'invalid', `${JSON.stringify(buf.toString('latin1'))}: ${JSON.stringify(r)}`);
  assert.equal((r as { reason: string }).reason, reason, (r as { message: string }).message);
}

test('v1: the specification examples, TCP4, TCP6 (canonical form), UNKNOWN; the bytes after the header are not taken', () => {
  const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
  const r = ok(parseProxyHeader(Buffer.from(line + 'GET / HTTP/1.1\r\n')));
  assert.equal(r.length, line.length);
  assert.deepEqual(r.header, {
    version: 1,
    command: 'PROXY',
    transport: 'TCP4',
    source: { address: '192.168.0.1', port: 56324, family: 'IPv4' },
    destination: { address: '192.168.0.11', port: 443, family: 'IPv4' },
    tlvs: null,
  });
  const six = ok(parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:127.0.0.1 65535 0\r\n')));
  assert.deepEqual(six.header.source, { address: '2001:db8::1', port: 65535, family: 'IPv6' });
  assert.deepEqual(six.header.destination, { address: '::ffff:127.0.0.1', port: 0, family: 'IPv6' });
  for (const u of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n']) {
    const r = ok(parseProxyHeader(Buffer.from(u + 'x')));
    assert.equal(r.length, u.length);
    assert.equal(r.header.transport, 'UNKNOWN');
    assert.equal(r.header.source, null);
  }
  // The longest header allowed: 107 bytes, CRLF included.
  const longest = 'PROXY UNKNOWN ' + 'x'.repeat(107 - 16) + '\r\n';
  assert.equal(longest.length, 107);
  assert.equal(ok(parseProxyHeader(Buffer.from(longest))).length, 107);
});

test('v1: malformed lines and over-long ones are invalid, with the reason', () => {
  for (const line of [
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', // bare LF
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX',
    'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', // two spaces
    'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
    'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n',
    'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
    'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
    'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n',
    'PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n',
    'PROXY \r\n',
    'PROXY UNKNOWNX\r\n',
  ]) {
    bad(line, 'v1_malformed');
  }
  bad('PROXY UNKNOWN ' + 'x'.repeat(107 - 15) + '\r\n', 'v1_too_long'); // 108 bytes
  bad('PROXY UNKNOWN ' + 'x'.repeat(200), 'v1_too_long');
  // Known as soon as a byte cannot be part of a header.
  bad('PROXX', 'signature');
  bad('GET / HTTP/1.1\r\n', 'signature');
  bad('P\x00', 'signature');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6')).status, 'incomplete');
  assert.equal(parseProxyHeader(Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(90))).status, 'incomplete');
});

test('v2: TCP4, TCP6, UNIX, UDP, LOCAL, AF_UNSPEC; every TLV kind; a CRC32C that matches and one that does not', () => {
  const v4 = encode({ version: 2, command: 'PROXY', transport: 'TCP4', src: { address: '10.1.2.3', port: 40000 }, dst: { address: '10.0.0.1', port: 80 } });
  const r4 = ok(parseProxyHeader(Buffer.concat([v4, Buffer.from('data')])));
  assert.equal(r4.length, 28);
  assert.deepEqual(r4.header, {
    version: 2,
    command: 'PROXY',
    transport: 'TCP4',
    source: { address: '10.1.2.3', port: 40000, family: 'IPv4' },
    destination: { address: '10.0.0.1', port: 80, family: 'IPv4' },
    tlvs: null,
  });
  const v6 = ok(
    parseProxyHeader(
      encode({ version: 2, command: 'PROXY', transport: 'TCP6', src: { address: '2001:db8:0:0:1:0:0:1', port: 1 }, dst: { address: '::1', port: 2 } }),
    ),
  );
  assert.deepEqual(v6.header.source, { address: '2001:db8::1:0:0:1', port: 1, family: 'IPv6' });
  const unix = ok(
    parseProxyHeader(encode({ version: 2, command: 'PROXY', transport: 'UNIX', src: { path: '/run/client.sock' }, dst: { path: '/run/lb.sock' } })),
  );
  assert.deepEqual(unix.header.source, { path: '/run/client.sock', family: 'unix' });
  assert.equal(unix.length, 16 + 216);
  assert.equal(
    ok(
      parseProxyHeader(
        encode({ version: 2, command: 'PROXY', transport: 'UDP4', src: { address: '1.1.1.1', port: 53 }, dst: { address: '2.2.2.2', port: 53 } }),
      ),
    ).header.transport,
    'UDP4',
  );
  // LOCAL: the balancer's own connection (a health check); addresses, if any, are ignored.
  for (const local of [
    encode({ version: 2, command: 'LOCAL', transport: 'UNKNOWN' }),
    encode({ version: 2, command: 'LOCAL', transport: 'TCP4', src: { address: '1.2.3.4', port: 1 }, dst: { address: '5.6.7.8', port: 2 } }),
  ]) {
    const r = ok(parseProxyHeader(local));
    assert.equal(r.header.command, 'LOCAL');
    assert.equal(r.header.source, null);
    assert.equal(r.length, local.length);
  }
  const ssl = Buffer.concat([
    Buffer.from([0x07, 0, 0, 0, 0]),
    Buffer.from([0x21, 0, 7]),
    Buffer.from('TLSv1.3'),
    Buffer.from([0x22, 0, 6]),
    Buffer.from('client'),
    Buffer.from([0x23, 0, 22]),
    Buffer.from('TLS_AES_256_GCM_SHA384'),
    Buffer.from([0x24, 0, 6]),
    Buffer.from('SHA256'),
    Buffer.from([0x25, 0, 7]),
    Buffer.from('RSA2048'),
  ]);
  const spec: Spec = {
    version: 2,
    command: 'PROXY',
    transport: 'TCP4',
    src: { address: '192.0.2.1', port: 5 },
    dst: { address: '192.0.2.2', port: 443 },
    tlvs: [
      { type: 0x01, value: Buffer.from('h2') },
      { type: 0x02, value: Buffer.from('example.com') },
      { type: 0x04, value: Buffer.alloc(3) }, // NOOP
      { type: 0x05, value: Buffer.from('unique-id-1') },
      { type: 0x20, value: ssl },
      { type: 0x30, value: Buffer.from('blue') },
      { type: 0xea, value: Buffer.from([0x01, 0x76, 0x70, 0x63]) }, // AWS: VPC endpoint id
    ],
    crc: true,
  };
  const full = encode(spec);
  const t = ok(parseProxyHeader(full)).header.tlvs;
  assert.ok(t !== null);
  assert.equal(t.alpn, 'h2');
  assert.equal(t.authority, 'example.com');
  assert.deepEqual(t.uniqueId, Buffer.from('unique-id-1'));
  assert.equal(t.netns, 'blue');
  assert.deepEqual(t.ssl, { client: 7, verify: 0, version: 'TLSv1.3', cn: 'client', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'SHA256', keyAlg: 'RSA2048' });
  assert.deepEqual(
    t.raw.map((x) => x.type),
    [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xea, 0x03],
  );
  assert.deepEqual(t.raw[6]?.value, Buffer.from([0x01, 0x76, 0x70, 0x63]));
  // One bit flipped in the addresses: the checksum catches it.
  const flipped = Buffer.from(full);
  flipped[17] = (flipped[17] as number) ^ 1;
  bad(flipped, 'v2_checksum');
});

test('v2: wrong signature, version, command, family; a length beyond the limit; truncated addresses; broken TLVs', () => {
  const good = encode({ version: 2, command: 'PROXY', transport: 'TCP4', src: { address: '1.2.3.4', port: 1 }, dst: { address: '5.6.7.8', port: 2 } });
  const mutate = (at: number, value: number): Buffer => {
    const b = Buffer.from(good);
    b[at] = value;
    return b;
  };
  bad(mutate(11, 0x0b), 'signature');
  bad(mutate(4, 0x01), 'signature');
  bad(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]), 'signature'); // known at the 5th byte
  bad(mutate(12, 0x11), 'v2_version');
  bad(mutate(12, 0x31), 'v2_version');
  bad(mutate(12, 0x22), 'v2_command');
  bad(mutate(13, 0x41), 'v2_family');
  bad(mutate(13, 0x13), 'v2_family');
  bad(Buffer.from(good.subarray(0, 14)).fill(0x14, 13), 'v2_family'); // known at the 14th byte
  // Length: 4096 by default; 16 + 4081 is over it, known from the 16 fixed bytes alone.
  const long = Buffer.from(good.subarray(0, 16));
  long.writeUInt16BE(4081, 14);
  bad(long, 'v2_too_long');
  long.writeUInt16BE(0xffff, 14);
  bad(long, 'v2_too_long');
  assert.equal(parseProxyHeader(long, 65551).status, 'incomplete');
  long.writeUInt16BE(300, 14);
  bad(long, 'v2_too_long', 300);
  // An address block shorter than its family's.
  const short = Buffer.from(good.subarray(0, 16));
  short.writeUInt16BE(8, 14);
  bad(short, 'v2_truncated');
  const six = Buffer.from(short);
  six[13] = 0x21;
  six.writeUInt16BE(35, 14);
  bad(six, 'v2_truncated');
  const unix = Buffer.from(short);
  unix[13] = 0x31;
  unix.writeUInt16BE(215, 14);
  bad(unix, 'v2_truncated');
  // A TLV that runs past the header, a TLV header cut short, an SSL TLV without its 5 bytes, a unique id over 128 bytes.
  const withTlv = (tlv: Buffer): Buffer => {
    const b = Buffer.concat([good, tlv]);
    b.writeUInt16BE(12 + tlv.length, 14);
    return b;
  };
  bad(withTlv(Buffer.from([0x01, 0x00, 0x05, 0x68, 0x32])), 'v2_tlv');
  bad(withTlv(Buffer.from([0x01, 0x00])), 'v2_tlv');
  bad(withTlv(Buffer.from([0x20, 0x00, 0x02, 0x01, 0x00])), 'v2_tlv');
  bad(withTlv(Buffer.concat([Buffer.from([0x05, 0x00, 129]), Buffer.alloc(129)])), 'v2_tlv');
  bad(withTlv(Buffer.from([0x03, 0x00, 0x02, 0x00, 0x00])), 'v2_tlv');
});

// ---------------------------------------------------------------- properties

const port = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const path = fc.stringMatching(/^\/[a-z0-9._/-]{0,100}$/);
const tlv = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((t) => ![0x03, 0x05, 0x20].includes(t)),
  value: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
});
const tlvs = fc.array(tlv, { maxLength: 6 });
const ipSpec = (transport: 'TCP4' | 'UDP4' | 'TCP6' | 'UDP6', version: 1 | 2): fc.Arbitrary<Spec> => {
  const ip = transport.endsWith('4') ? ipv4 : ipv6;
  return fc.record({
    version: fc.constant(version),
    command: fc.constant('PROXY' as const),
    transport: fc.constant(transport),
    src: fc.record({ address: ip, port }),
    dst: fc.record({ address: ip, port }),
    tlvs: version === 2 ? tlvs : fc.constant<Spec['tlvs']>([]),
    crc: version === 2 ? fc.boolean() : fc.constant(false),
  });
};
const specs: fc.Arbitrary<Spec> = fc.oneof<fc.Arbitrary<Spec>[]>(
  ipSpec('TCP4', 1),
  ipSpec('TCP6', 1),
  fc.constant<Spec>({ version: 1, command: 'PROXY', transport: 'UNKNOWN' }),
  ipSpec('TCP4', 2),
  ipSpec('TCP6', 2),
  ipSpec('UDP4', 2),
  ipSpec('UDP6', 2),
  fc.record({
    version: fc.constant(2 as const),
    command: fc.constant('PROXY' as const),
    transport: fc.constantFrom('UNIX' as const, 'UNIX_DGRAM' as const),
    src: fc.record({ path }),
    dst: fc.record({ path }),
    tlvs,
    crc: fc.boolean(),
  }),
  fc.record({
    version: fc.constant(2 as const),
    command: fc.constant('LOCAL' as const),
    transport: fc.constant('UNKNOWN' as const),
    tlvs: fc.constant<Spec['tlvs']>([]),
  }),
);

/** What the parser should report for `spec`: IP addresses as bytes (the text form is the parser's business). */
function expected(spec: Spec): { source: unknown; transport: string; command: string } {
  const addr = (a: Spec['src'], family: string): unknown => {
    if (a === undefined) return null;
    if ('path' in a) return { path: a.path, family: 'unix' };
    return { address: ipBytes(a.address).toString('hex'), port: a.port, family };
  };
  const family = spec.transport.endsWith('6') ? 'IPv6' : 'IPv4';
  return { source: spec.command === 'LOCAL' ? null : addr(spec.src, family), transport: spec.transport, command: spec.command };
}

function asBytes(a: unknown): unknown {
  if (a === null || typeof a !== 'object' || !('address' in a)) return a;
  const ip = a as { address: string; port: number; family: string };
  return { address: ipBytes(ip.address).toString('hex'), port: ip.port, family: ip.family };
}

test('property: every header parses back to what was encoded, whatever follows it', () => {
  fc.assert(
    fc.property(specs, fc.uint8Array({ maxLength: 64 }), (spec, trailing) => {
      const header = encode(spec);
      const r = ok(parseProxyHeader(Buffer.concat([header, trailing])));
      assert.equal(r.length, header.length);
      const e = expected(spec);
      assert.equal(r.header.version, spec.version);
      assert.equal(r.header.command, e.command);
      assert.equal(r.header.transport, e.transport);
      assert.deepEqual(asBytes(r.header.source), e.source);
      if (spec.version === 2 && (spec.tlvs?.length ?? 0) > 0) {
        const raw = r.header.tlvs?.raw.filter((t) => t.type !== 0x03) ?? [];
        assert.deepEqual(
          raw.map((t) => [t.type, t.value.toString('hex')]),
          (spec.tlvs ?? []).map((t) => [t.type, t.value.toString('hex')]),
        );
      }
    }),
    params,
  );
});

test('property: split anywhere (down to single bytes), every prefix is "incomplete" and the whole is the same header', () => {
  fc.assert(
    fc.property(specs, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 300 }), (spec, cuts) => {
      const header = encode(spec);
      const whole = ok(parseProxyHeader(header));
      let at = 0;
      let i = 0;
      while (at < header.length) {
        at = Math.min(header.length, at + (cuts[i++ % cuts.length] as number));
        const r = parseProxyHeader(header.subarray(0, at));
        if (at < header.length) assert.equal(r.status, 'incomplete', `prefix of ${at}/${header.length}`);
        else assert.deepEqual(r, whole);
      }
    }),
    params,
  );
});

test('property: random bytes and corrupted headers never throw; "incomplete" only below the bound, "done" within the data', () => {
  const corrupted = fc
    .tuple(specs, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat())
    .map(([spec, flips, cut]) => {
      const b = Buffer.from(encode(spec));
      for (const [at, v] of flips) b[at % b.length] = v;
      return b.subarray(0, 1 + (cut % b.length));
    });
  const noise = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  const prefixed = fc
    .tuple(fc.constantFrom('PROXY ', 'PROXY TCP4 ', '\r\n\r\n\0\r\nQUIT\n!'), noise)
    .map(([p, n]) => Buffer.concat([Buffer.from(p, 'latin1'), n]));
  fc.assert(
    fc.property(fc.oneof(corrupted, noise, prefixed), fc.integer({ min: 232, max: 65551 }), (data, max) => {
      const r = parseProxyHeader(data, max);
      if (r.status === 'incomplete') {
        const v1 = data[0] !== 0x0d;
        assert.ok(data.length < (v1 ? 107 : max), `incomplete with ${data.length} bytes`);
      } else if (r.status === 'done') {
        assert.ok(r.length <= data.length && r.length <= Math.max(107, max));
      } else {
        assert.equal(typeof r.reason, 'string');
        assert.ok(r.message.length > 0);
      }
    }),
    { ...params, numRuns: 2000 },
  );
});
