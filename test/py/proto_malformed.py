"""Malformed packets: answered with BAD_MESSAGE when the request id is readable, otherwise only
that connection is closed; a second client keeps working throughout.

usage: proto_malformed.py HOST PORT USER PASSWORD HOME
"""
import os
import struct

from rawsftp import *  # noqa: F401,F403

host, port, user, password, home = args()
with open(os.path.join(home, 'keep'), 'wb') as f:
    f.write(b'keep me')

bystander = session(host, port, user, password)


def bystander_works(label):
    r = bystander.open('/keep', F_READ)
    ok = r.type == HANDLE
    if ok:
        d = bystander.read(r.handle, 0, 100)
        ok = d.type == DATA and d.data == b'keep me'
        bystander.close_handle(r.handle)
    check('second client still works after ' + label, ok, r)


# --- answered with BAD_MESSAGE, the connection goes on ---
c = session(host, port, user, password)
cases = [
    ('truncated OPEN', bytes([OPEN]) + u32(7) + u32(100) + b'short'),
    ('NUL in a path', bytes([STAT]) + u32(8) + pstr(b'a\0b')),
    ('invalid UTF-8 path', bytes([STAT]) + u32(9) + pstr(b'\xff\xfe')),
    ('over-long path', bytes([STAT]) + u32(10) + pstr(b'a' * 5000)),
    ('unknown packet type', bytes([99]) + u32(11) + b'junk'),
    ('READ without length', bytes([READ]) + u32(12) + pstr(b'\0\0\0\1') + u64(0)),
    ('64-bit offset past 2^53', bytes([READ]) + u32(13) + pstr(b'\0\0\0\1') + b'\xff' * 8 + u32(1)),
    ('ATTRS with a huge extended count', bytes([SETSTAT]) + u32(14) + pstr('/keep') + u32(0x80000000) +
     u32(0xffffffff)),
    ('type byte and id only, OPEN', bytes([OPEN]) + u32(15)),
]
for label, body in cases:
    rid = struct.unpack('>I', body[1:5])[0]
    c.send_body(body)
    r = c.recv_next()
    check(label + ': BAD_MESSAGE with its id', r.type == STATUS and r.code == BAD_MESSAGE and r.id == rid,
          r)
r = c.request(STAT, pstr('/keep'))
check('the same connection still answers', r.type == ATTRS and r.attrs['size'] == 7, r)
# a malformed request in a pipeline is answered in its turn
ids = [c.send(STAT, pstr('/keep')) for _ in range(3)]
c.send_body(bytes([OPEN]) + u32(500) + u32(1000))
ids.append(500)
ids += [c.send(STAT, pstr('/keep')) for _ in range(3)]
got = [c.recv_next() for _ in ids]
check('replies in request order around a malformed one', [g.id for g in got] == ids, [g.id for g in got])
check('the malformed one in a pipeline: BAD_MESSAGE', got[3].type == STATUS and got[3].code == BAD_MESSAGE,
      got[3])
c.close()
bystander_works('BAD_MESSAGE cases')

# --- framing errors and a bad start close only that connection ---
fatal = [
    ('zero-length packet', u32(0)),
    ('packet longer than 256 KiB', u32(256 * 1024 + 1) + b'x' * 1000),
    ('huge length', b'\xff\xff\xff\xff'),
    ('packet without an id', u32(1) + bytes([STAT])),
]
for label, raw in fatal:
    c = session(host, port, user, password)
    c.ch.sendall(raw)
    check(label + ': connection closed', c.wait_closed(), label)
    c.close()
    bystander_works(label)

c = connect(host, port, user, password)
c.send_body(bytes([STAT]) + u32(1) + pstr('/keep'))
check('first packet not INIT: connection closed', c.wait_closed())
c.close()
bystander_works('no INIT')

# --- random garbage after INIT, many times: the server answers or closes, and keeps serving ---
for i in range(20):
    c = session(host, port, user, password)
    body = os.urandom(1 + i * 7)
    c.send_body(body)
    try:
        r = c.recv_next()
        ok = r.type == STATUS and r.code in (BAD_MESSAGE, OP_UNSUPPORTED, NO_SUCH_FILE, FAILURE, OK, EOF,
                                             PERMISSION_DENIED) or r.type in (HANDLE, DATA, NAME, ATTRS,
                                                                              EXTENDED_REPLY)
    except (EOFError, OSError):
        ok = True  # closed: allowed
    except Exception as e:  # noqa: BLE001
        ok = False
        r = e
    if not ok:
        check('garbage %d answered or closed' % i, False, r)
    c.close()
check('random garbage: every packet answered or its connection closed', True)
bystander_works('random garbage')
bystander.close()
finish()
