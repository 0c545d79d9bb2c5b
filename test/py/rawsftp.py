"""A raw SFTP v3 client on paramiko's transport: send any packet, in any order, and read replies.

The one raw SFTP library of the test scripts (attack_*.py, proto_*.py):

    import rawsftp
    s = rawsftp.connect('127.0.0.1', port, 'alice', password='pw')   # or pkey_file=PATH
    s.init()                                  # INIT/VERSION, returns {ext name: data}
    r = s.request(rawsftp.OPEN, rawsftp.pstr(b'/x') + rawsftp.u32(rawsftp.F_READ) + rawsftp.attrs())
    r.type, r.code, r.msg, r.handle, r.data, r.names
    s.send_raw(b'...')                        # bytes exactly as given (lengths may lie)
    s.close()

Replies are matched by request id; `request` waits for its own reply, `send`/`recv` let a script
pipeline, `recv_next` reads the next reply whatever its id. A closed connection gives a Reply with
type CLOSED (recv_next raises EOFError instead).

Scripts that report checks by name (proto_*.py) use check() and finish(): each check prints
"ok NAME" or "FAIL NAME: detail"; finish() prints {"failures": [...]} and exits 1 if any failed.
"""

import json
import socket
import struct
import sys

import paramiko

INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT = 1, 2, 3, 4, 5, 6, 7, 8
SETSTAT, FSETSTAT, OPENDIR, READDIR, REMOVE, MKDIR, RMDIR = 9, 10, 11, 12, 13, 14, 15
REALPATH, STAT, RENAME, READLINK, SYMLINK = 16, 17, 18, 19, 20
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201
CLOSED = -1

F_READ, F_WRITE, F_APPEND, F_CREAT, F_TRUNC, F_EXCL = 1, 2, 4, 8, 16, 32

OK, EOF, NO_SUCH_FILE, PERMISSION_DENIED, FAILURE, BAD_MESSAGE = 0, 1, 2, 3, 4, 5
NO_CONNECTION, CONNECTION_LOST, OP_UNSUPPORTED = 6, 7, 8

A_SIZE, A_UIDGID, A_PERM, A_TIME, A_EXTENDED = 1, 2, 4, 8, 0x80000000

failures = []


def check(name, cond, detail=''):
    if cond:
        print('ok', name, flush=True)
    else:
        failures.append(name)
        print('FAIL', name + ':', detail, flush=True)


def finish():
    print(json.dumps({'failures': failures}), flush=True)
    sys.exit(1 if failures else 0)


def args():
    """host port user password home, from argv"""
    host, port, user, password, home = sys.argv[1:6]
    return host, int(port), user, password, home


def u8(v):
    return struct.pack('>B', v & 0xFF)


def u32(v):
    return struct.pack('>I', v & 0xFFFFFFFF)


def u64(v):
    return struct.pack('>Q', v & 0xFFFFFFFFFFFFFFFF)


def pstr(b):
    """An SFTP string: uint32 length, then the bytes (str is encoded as UTF-8)."""
    if isinstance(b, str):
        b = b.encode('utf-8')
    return u32(len(b)) + b


def attrs(size=None, perm=None, atime=None, mtime=None):
    flags = 0
    out = b''
    if size is not None:
        flags |= 1
        out += u64(size)
    if perm is not None:
        flags |= 4
        out += u32(perm)
    if atime is not None and mtime is not None:
        flags |= 8
        out += u32(atime) + u32(mtime)
    return u32(flags) + out


class Reader:
    """Reads the fields of a packet body in order."""

    def __init__(self, b, p=0):
        self.b = b
        self.p = p

    def u8(self):
        v = self.b[self.p]
        self.p += 1
        return v

    def u32(self):
        v = struct.unpack_from('>I', self.b, self.p)[0]
        self.p += 4
        return v

    def u64(self):
        v = struct.unpack_from('>Q', self.b, self.p)[0]
        self.p += 8
        return v

    def bytes(self):
        n = self.u32()
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def str(self):
        return self.bytes().decode('utf-8')

    def attrs(self):
        f = self.u32()
        a = {}
        if f & A_SIZE:
            a['size'] = self.u64()
        if f & A_UIDGID:
            a['uid'] = self.u32()
            a['gid'] = self.u32()
        if f & A_PERM:
            a['perm'] = self.u32()
        if f & A_TIME:
            a['atime'] = self.u32()
            a['mtime'] = self.u32()
        if f & A_EXTENDED:
            for _ in range(self.u32()):
                self.bytes()
                self.bytes()
        return a

    def rest(self):
        v = self.b[self.p:]
        self.p = len(self.b)
        return v


class Reply:
    """A decoded reply: type, id, and the fields of its kind.

    STATUS: code, msg; HANDLE: handle; DATA: data; NAME: names (the file names) and entries
    ((name, longname, attrs dict) each); ATTRS: attrs (dict) and size; VERSION: version and
    extensions ((name, data) each); EXTENDED_REPLY: reader (a Reader after the id).
    """

    def __init__(self, body):
        self.attrs = None
        self.entries = None
        self.reader = None
        self._decode(body)
        if body is None or self.type == VERSION:
            return
        try:
            r = Reader(body, 5)
            if self.type == NAME:
                self.entries = [(r.str(), r.str(), r.attrs()) for _ in range(r.u32())]
            elif self.type == ATTRS:
                self.attrs = r.attrs()
            elif self.type == EXTENDED_REPLY:
                self.reader = r
        except (struct.error, IndexError, UnicodeDecodeError):
            pass

    def _decode(self, body):
        self.body = body
        self.code = None
        self.msg = None
        self.handle = None
        self.data = None
        self.names = None
        self.size = None
        if body is None:
            self.type, self.id = CLOSED, None
            return
        self.type = body[0]
        if self.type == VERSION:
            r = Reader(body, 1)
            self.id = None
            self.version = r.u32()
            self.extensions = []
            while r.p < len(body):
                self.extensions.append((r.str(), r.bytes().decode('utf-8', 'replace')))
            return
        self.id = struct.unpack('>I', body[1:5])[0] if len(body) >= 5 else None
        p = 5
        if self.type == STATUS:
            self.code = struct.unpack('>I', body[5:9])[0]
            n = struct.unpack('>I', body[9:13])[0]
            self.msg = body[13:13 + n].decode('utf-8', 'replace')
        elif self.type == HANDLE:
            n = struct.unpack('>I', body[5:9])[0]
            self.handle = body[9:9 + n]
        elif self.type == DATA:
            n = struct.unpack('>I', body[5:9])[0]
            self.data = body[9:9 + n]
        elif self.type == NAME:
            count = struct.unpack('>I', body[p:p + 4])[0]
            p += 4
            self.names = []
            for _ in range(count):
                n = struct.unpack('>I', body[p:p + 4])[0]
                self.names.append(body[p + 4:p + 4 + n].decode('utf-8', 'replace'))
                p += 4 + n
                n = struct.unpack('>I', body[p:p + 4])[0]
                p += 4 + n
                p = _skip_attrs(body, p)
        elif self.type == ATTRS:
            flags = struct.unpack('>I', body[5:9])[0]
            if flags & 1:
                self.size = struct.unpack('>Q', body[9:17])[0]

    def short(self):
        """A comparable summary: type and status code/message (no ids)."""
        if self.type == STATUS:
            return 'STATUS %d %s' % (self.code, self.msg)
        if self.type == CLOSED:
            return 'CLOSED'
        if self.type == NAME:
            return 'NAME %s' % ','.join(self.names)
        return {HANDLE: 'HANDLE', DATA: 'DATA', ATTRS: 'ATTRS',
                EXTENDED_REPLY: 'EXTENDED_REPLY'}.get(self.type, 'TYPE %d' % self.type)

    def __repr__(self):
        return '<Reply %s>' % self.short()


def _skip_attrs(b, p):
    flags = struct.unpack('>I', b[p:p + 4])[0]
    p += 4
    if flags & 1:
        p += 8
    if flags & 2:
        p += 8
    if flags & 4:
        p += 4
    if flags & 8:
        p += 8
    if flags & 0x80000000:
        count = struct.unpack('>I', b[p:p + 4])[0]
        p += 4
        for _ in range(count * 2):
            n = struct.unpack('>I', b[p:p + 4])[0]
            p += 4 + n
    return p


class RawSftp:
    def __init__(self, transport, channel):
        self.t = transport
        self.ch = channel
        self.buf = b''
        self.next_id = 1
        self.pending = {}
        self.closed = False

    # ---- sending ----
    def send_raw(self, data):
        """Sends bytes exactly as given; False when the channel is gone."""
        try:
            self.ch.sendall(data)
            return True
        except (OSError, EOFError, paramiko.SSHException):
            self.closed = True
            return False

    def send(self, ptype, payload=b'', rid=None):
        """Sends one framed packet with a fresh id (or rid); returns the id."""
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        body = u8(ptype) + u32(rid) + payload
        self.send_raw(u32(len(body)) + body)
        return rid

    def send_body(self, body):
        """Sends one packet body (type, id, fields: any bytes), framed with its length."""
        return self.send_raw(u32(len(body)) + body)

    # ---- receiving ----
    def _fill(self, timeout):
        self.ch.settimeout(timeout)
        try:
            d = self.ch.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError('no reply within %ss' % timeout)
        except (OSError, EOFError, paramiko.SSHException):
            d = b''
        if not d:
            self.closed = True
            return False
        self.buf += d
        return True

    def recv_packet(self, timeout=30):
        """The next packet body, or None when the connection closed."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack('>I', self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return body
            if self.closed or not self._fill(timeout):
                return None

    def recv(self, rid, timeout=30):
        """The reply to request rid (others are kept for their own recv)."""
        if rid in self.pending:
            return self.pending.pop(rid)
        while True:
            body = self.recv_packet(timeout)
            r = Reply(body)
            if r.type == CLOSED:
                return r
            if r.id == rid:
                return r
            self.pending[r.id] = r

    def recv_next(self, timeout=30):
        """The next reply, whatever its id; EOFError when the connection closed."""
        body = self.recv_packet(timeout)
        if body is None:
            raise EOFError('channel closed')
        return Reply(body)

    def wait_closed(self, timeout=5):
        """True when the server ends the channel (EOF) within timeout."""
        self.ch.settimeout(timeout)
        try:
            while True:
                if not self.ch.recv(65536):
                    return True
        except socket.timeout:
            return False
        except Exception:
            return True

    def request(self, ptype, payload=b'', timeout=30):
        return self.recv(self.send(ptype, payload), timeout)

    # ---- conveniences ----
    def init(self, version=3):
        """INIT/VERSION; the VERSION reply is kept as self.version. Returns {ext name: data}."""
        self.send_raw(u32(5) + u8(INIT) + u32(version))
        body = self.recv_packet()
        if body is None or body[0] != VERSION:
            raise RuntimeError('no VERSION reply')
        self.version = Reply(body)
        return dict(self.version.extensions)

    def path_req(self, ptype, path):
        return self.request(ptype, pstr(path))

    def open(self, path, flags, a=None):
        return self.request(OPEN, pstr(path) + u32(flags) + (a if a is not None else attrs()))

    def handle(self, path, flags, a=None):
        """OPEN that must succeed: the handle."""
        r = self.open(path, flags, a)
        assert r.type == HANDLE, 'open %s: %r' % (path, r)
        return r.handle

    def close_handle(self, h):
        return self.request(CLOSE, pstr(h))

    def write(self, h, offset, data):
        return self.request(WRITE, pstr(h) + u64(offset) + pstr(data))

    def read(self, h, offset, length):
        return self.request(READ, pstr(h) + u64(offset) + u32(length))

    def extended(self, name, payload=b''):
        return self.request(EXTENDED, pstr(name) + payload)

    def listdir(self, path):
        r = self.path_req(OPENDIR, path)
        if r.type != HANDLE:
            return r
        names = []
        while True:
            x = self.request(READDIR, pstr(r.handle))
            if x.type != NAME:
                break
            names += x.names
        self.close_handle(r.handle)
        return names

    def alive(self):
        """True when the session still answers a request."""
        r = self.path_req(REALPATH, '.')
        return r.type == NAME

    def close(self):
        try:
            self.ch.close()
        finally:
            self.t.close()


def connect(host, port, user, password=None, pkey_file=None, timeout=30):
    """Logs in and opens the sftp subsystem (INIT not yet sent: call init())."""
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    t = paramiko.Transport(sock)
    t.banner_timeout = timeout
    t.auth_timeout = timeout
    pkey = None
    if pkey_file:
        pkey = paramiko.Ed25519Key.from_private_key_file(pkey_file)
    t.connect(username=user, password=password, pkey=pkey)
    ch = t.open_session(timeout=timeout)
    ch.invoke_subsystem('sftp')
    return RawSftp(t, ch)


def session(host, port, user, password=None, pkey_file=None, timeout=30):
    """connect() and init(): a session ready for requests."""
    s = connect(host, port, user, password, pkey_file, timeout)
    s.init()
    return s


def exec_command(host, port, user, command, password=None, timeout=30):
    """Runs an exec request; returns (exit status, stdout bytes, stderr bytes)."""
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    t = paramiko.Transport(sock)
    t.connect(username=user, password=password)
    ch = t.open_session(timeout=timeout)
    ch.settimeout(timeout)
    if isinstance(command, str):
        command = command.encode('utf-8', 'surrogateescape')
    ch.exec_command(command)
    out, err = b'', b''
    while True:
        d = ch.recv(65536)
        if not d:
            break
        out += d
    while ch.recv_stderr_ready() or not ch.exit_status_ready():
        d = ch.recv_stderr(65536)
        if not d and ch.exit_status_ready():
            break
        err += d
    status = ch.recv_exit_status()
    t.close()
    return status, out, err
