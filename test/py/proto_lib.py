"""A raw SFTP v3 client over paramiko, for exact protocol sequences (used by test/py/proto_*.py).

Every check goes through check(): it prints "ok NAME" or "FAIL NAME: detail"; the script exits 1 if
any check failed, so test/protocol.test.ts sees each result by name.
"""
import json
import socket
import struct
import sys

import paramiko

INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME, READLINK, SYMLINK = range(11, 21)
STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED, EXTENDED_REPLY = 101, 102, 103, 104, 105, 200, 201

OK, EOF, NO_SUCH_FILE, PERMISSION_DENIED, FAILURE, BAD_MESSAGE = 0, 1, 2, 3, 4, 5
OP_UNSUPPORTED = 8

F_READ, F_WRITE, F_APPEND, F_CREAT, F_TRUNC, F_EXCL = 1, 2, 4, 8, 16, 32

A_SIZE, A_UIDGID, A_PERM, A_TIME = 1, 2, 4, 8

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


def u32(v):
    return struct.pack('>I', v)


def u64(v):
    return struct.pack('>Q', v)


def sstr(b):
    if isinstance(b, str):
        b = b.encode('utf-8')
    return u32(len(b)) + b


def attrs(size=None, perm=None, atime=None, mtime=None):
    flags = 0
    out = b''
    if size is not None:
        flags |= A_SIZE
        out += u64(size)
    if perm is not None:
        flags |= A_PERM
        out += u32(perm)
    if atime is not None:
        flags |= A_TIME
        out += u32(atime) + u32(mtime)
    return u32(flags) + out


class Reader:
    def __init__(self, b):
        self.b = b
        self.p = 0

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
        return a

    def rest(self):
        v = self.b[self.p:]
        self.p = len(self.b)
        return v


class Reply:
    """A decoded reply: type, id, and the fields of its kind."""

    def __init__(self, body):
        r = Reader(body)
        self.type = r.u8()
        self.raw = body
        if self.type == VERSION:
            self.version = r.u32()
            self.extensions = []
            while r.p < len(body):
                self.extensions.append((r.str(), r.str()))
            return
        self.id = r.u32()
        if self.type == STATUS:
            self.code = r.u32()
            self.message = r.str()
            r.str()
        elif self.type == HANDLE:
            self.handle = r.bytes()
        elif self.type == DATA:
            self.data = r.bytes()
        elif self.type == NAME:
            n = r.u32()
            self.names = [(r.str(), r.str(), r.attrs()) for _ in range(n)]
        elif self.type == ATTRS:
            self.attrs = r.attrs()
        elif self.type == EXTENDED_REPLY:
            self.reader = r

    def __repr__(self):
        if self.type == STATUS:
            return 'STATUS(%d %r)' % (self.code, self.message)
        return 'Reply(type=%d)' % self.type


class Raw:
    """One SSH connection with one raw sftp channel."""

    def __init__(self, host, port, user, password, init=True):
        sock = socket.create_connection((host, port), timeout=20)
        self.t = paramiko.Transport(sock)
        self.t.connect(username=user, password=password)
        self.ch = self.t.open_session()
        self.ch.settimeout(20)
        self.ch.invoke_subsystem('sftp')
        self.next_id = 1
        self.version = None
        if init:
            self.send_raw(bytes([INIT]) + u32(3))
            self.version = self.recv()

    def close(self):
        try:
            self.ch.close()
        finally:
            self.t.close()

    def send_raw(self, body):
        self.ch.sendall(u32(len(body)) + body)

    def send(self, ptype, payload):
        rid = self.next_id
        self.next_id += 1
        self.send_raw(bytes([ptype]) + u32(rid) + payload)
        return rid

    def _read(self, n):
        out = b''
        while len(out) < n:
            chunk = self.ch.recv(n - len(out))
            if not chunk:
                raise EOFError('channel closed')
            out += chunk
        return out

    def recv(self):
        n = struct.unpack('>I', self._read(4))[0]
        return Reply(self._read(n))

    def req(self, ptype, payload):
        rid = self.send(ptype, payload)
        r = self.recv()
        assert r.id == rid, 'reply id %d for request %d' % (r.id, rid)
        return r

    def closed(self, timeout=5):
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

    # convenience wrappers
    def open(self, path, flags, a=None):
        return self.req(OPEN, sstr(path) + u32(flags) + (a or attrs()))

    def handle(self, path, flags, a=None):
        r = self.open(path, flags, a)
        assert r.type == HANDLE, 'open %s: %r' % (path, r)
        return r.handle

    def close_h(self, h):
        return self.req(CLOSE, sstr(h))

    def read(self, h, off, n):
        return self.req(READ, sstr(h) + u64(off) + u32(n))

    def write(self, h, off, data):
        return self.req(WRITE, sstr(h) + u64(off) + sstr(data))

    def ext(self, name, payload=b''):
        return self.req(EXTENDED, sstr(name) + payload)


def args():
    """host port user password home"""
    host, port, user, password, home = sys.argv[1:6]
    return host, int(port), user, password, home
