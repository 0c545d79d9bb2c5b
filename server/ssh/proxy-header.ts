// The PROXY protocol (HAProxy's, v1 text and v2 binary) in front of SSH: a connection from a
// balancer listed in `proxyProtocol` begins with a header naming the client's address. This file
// only frames the header (how many bytes it has) and reads it off a socket with a bound on bytes
// and time; the parsing itself is proxy-protocol-js's. Nothing here knows about SSH.
import { isIP, type Socket } from 'node:net';
import {
  Command,
  INETProtocol,
  IPv4ProxyAddress,
  IPv6ProxyAddress,
  V1ProxyProtocol,
  V2ProxyProtocol,
} from 'proxy-protocol-js';

/** What a header says: the client's address, or LOCAL/UNKNOWN (a balancer's own health check). */
export type ProxyHeader =
  { version: 1 | 2; local: false; addr: string; port: number } | { version: 1 | 2; local: true };

/** A refused header: `reason` is what the log says. */
export class ProxyHeaderError extends Error {}

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** the longest v1 line the protocol allows, CRLF included */
const V1_MAX = 107;
/** v2: signature, version/command, family/transport, 16-bit length */
const V2_FIXED = 16;

/**
 * Whether the first bytes of a stream are a PROXY header: 'v1', 'v2', 'no', or 'more' while
 * too few bytes have come to tell. An SSH client starts with "SSH-", so one byte usually decides.
 */
export function sniff(buf: Buffer): 'v1' | 'v2' | 'no' | 'more' {
  const starts = (sig: Buffer): boolean | 'more' => {
    const n = Math.min(buf.length, sig.length);
    if (!buf.subarray(0, n).equals(sig.subarray(0, n))) return false;
    return n === sig.length ? true : 'more';
  };
  const v1 = starts(V1_PREFIX);
  const v2 = starts(V2_SIGNATURE);
  if (v1 === true) return 'v1';
  if (v2 === true) return 'v2';
  return v1 === 'more' || v2 === 'more' ? 'more' : 'no';
}

/**
 * Parses a complete header from the start of `buf`: the header and the bytes after it, or null
 * when more bytes are needed. Throws ProxyHeaderError when it is not a valid header.
 */
export function parseHeader(
  buf: Buffer,
  maxBytes: number,
): { header: ProxyHeader; length: number } | null {
  const kind = sniff(buf);
  if (kind === 'no') throw new ProxyHeaderError('no PROXY header');
  if (kind === 'more') return null;
  if (kind === 'v1') {
    const end = buf.indexOf('\r\n', 0, 'latin1');
    if (end < 0) {
      if (buf.length >= V1_MAX) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
      return null;
    }
    const length = end + 2;
    if (length > V1_MAX) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
    return { header: v1(buf.subarray(0, length).toString('latin1')), length };
  }
  if (buf.length < V2_FIXED) return null;
  const length = V2_FIXED + buf.readUInt16BE(14);
  if (length > maxBytes)
    throw new ProxyHeaderError(`PROXY v2 header of ${length} bytes (at most ${maxBytes})`);
  if (buf.length < length) return null;
  return { header: v2(buf.subarray(0, length)), length };
}

function v1(line: string): ProxyHeader {
  // "PROXY UNKNOWN" may be followed by anything up to CRLF (the spec); the library's pattern
  // wants the four fields even then, so this one case is recognised here
  if (/^PROXY UNKNOWN[ \r]/.test(line)) return { version: 1, local: true };
  let h: V1ProxyProtocol;
  try {
    h = V1ProxyProtocol.parse(line);
  } catch (e) {
    throw new ProxyHeaderError(`invalid PROXY v1 header: ${(e as Error).message}`);
  }
  // the library takes any word for an address: check the family and the port ourselves
  const family = h.inetProtocol === INETProtocol.TCP4 ? 4 : 6;
  const { ipAddress, port } = h.source;
  if (isIP(ipAddress) !== family || isIP(h.destination.ipAddress) !== family)
    throw new ProxyHeaderError(`invalid PROXY v1 header: bad ${h.inetProtocol} address`);
  if (!(port <= 65535 && h.destination.port <= 65535))
    throw new ProxyHeaderError('invalid PROXY v1 header: bad port');
  return { version: 1, local: false, addr: ipAddress, port };
}

function v2(bytes: Buffer): ProxyHeader {
  let h: V2ProxyProtocol;
  try {
    h = V2ProxyProtocol.parse(bytes);
  } catch (e) {
    throw new ProxyHeaderError(`invalid PROXY v2 header: ${(e as Error).message}`);
  }
  if (h.command === Command.LOCAL) return { version: 2, local: true };
  const a = h.proxyAddress;
  if (a instanceof IPv4ProxyAddress)
    return {
      version: 2,
      local: false,
      addr: a.sourceAddress.address.join('.'),
      port: a.sourcePort,
    };
  if (a instanceof IPv6ProxyAddress) {
    const b = a.sourceAddress.address;
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    // the URL parser writes an IPv6 address in its short form
    const addr = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
    return { version: 2, local: false, addr, port: a.sourcePort };
  }
  // UNSPEC or a UNIX socket: no client address to take; the spec says use the connection's
  return { version: 2, local: true };
}

/**
 * Reads a PROXY header off a fresh socket: resolves with the header once it is complete, with the
 * bytes after it put back on the socket (paused) for whoever reads next. Rejects with a
 * ProxyHeaderError when the first bytes are not a header, it is invalid, longer than `maxBytes`,
 * or not complete within `timeoutMs`, or the socket closes first.
 */
export function readProxyHeader(
  socket: Socket,
  o: { maxBytes: number; timeoutMs: number },
): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const fail = (why: string): void => {
      done();
      reject(new ProxyHeaderError(why));
    };
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let got: ReturnType<typeof parseHeader>;
      try {
        got = parseHeader(buf, o.maxBytes);
      } catch (e) {
        return fail((e as Error).message);
      }
      if (!got) {
        if (buf.length >= o.maxBytes) fail(`no complete PROXY header in ${o.maxBytes} bytes`);
        return;
      }
      done();
      socket.pause();
      if (buf.length > got.length) socket.unshift(buf.subarray(got.length));
      resolve(got.header);
    };
    const onClose = (): void => fail('closed before a PROXY header');
    const timer = setTimeout(
      () => fail(`no PROXY header within ${o.timeoutMs / 1000} s`),
      o.timeoutMs,
    );
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * Watches the first bytes of a direct (not proxied) connection and calls `onHeader` if they are a
 * PROXY header: a client outside the balancers' addresses may not name its own address.
 */
export function refuseProxyHeader(socket: Socket, onHeader: (version: 'v1' | 'v2') => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    const s = sniff(buf);
    if (s === 'more') return;
    socket.off('data', onData);
    if (s !== 'no') onHeader(s);
  };
  // first in line, before the SSH parser sees the bytes
  socket.prependListener('data', onData);
}
