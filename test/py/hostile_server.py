"""A lying SSH/SFTP server for the client tests: paramiko's transport, a raw SFTP v3 subsystem.

    hostile_server.py MODE --key KEYFILE [--password PW]

Listens on 127.0.0.1 on a port the OS picks and prints that port on stdout. Any user name is
accepted with the password (default "pw"). KEYFILE holds the RSA host key and is created when missing,
so that a test can present a second, different key by pointing at another file.

The tree it serves (in memory; uploads are kept in memory too):
    /tree/ and /flat/   ok.txt and, in mode "names", files named ../up.txt, .., ., a/b, "", and names
                        with ESC sequences (ESC]0;pwned BEL and ESC[2J)
    /tree/sub/ok.txt    (get -r recursion)
    /up/                in mode "names" only: ok.txt and ../up.txt
In mode "names" any other path that is not a directory is a file too, and opening one named fail.txt
fails with a message holding ESC sequences; every file holds CONTENT.
VERSION announces check-file-name; exec "sha256sum PATH" answers as coreutils does.

MODE:
    plain       well-behaved
    names       the hostile names above
    wronghash   sha256sum and check-file-name answer a wrong digest
    KIND:REQ    KIND short|oversized|garbage|silent|md5, REQ stat|readdir|read|checkfile: the reply
                to REQ (STAT of a path ending in ok.txt, READDIR, READ, the check-file-name EXTENDED)
                is truncated inside a field (short), declares a length of 64 MiB and sends 64 KiB of
                it (oversized), is bytes that are not SFTP (garbage), never comes (silent), or is an
                md5 digest where sha256 was asked for (md5, checkfile only); the channel then stays
                open and silent, so that a client that waits for more hangs.
"""

import hashlib
import os
import posixpath
import socket
import struct
import sys
import threading
import time

import paramiko

CONTENT = b'the right bytes\n' * 1000
ESC_NAMES = ['\x1b]0;pwned\x07', '\x1b[2J']
HOSTILE = ['../up.txt', '..', '.', 'a/b', ''] + ESC_NAMES

INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT = 1, 2, 3, 4, 5, 6, 7, 8
SETSTAT, FSETSTAT, OPENDIR, READDIR, REMOVE, MKDIR, RMDIR = 9, 10, 11, 12, 13, 14, 15
REALPATH, STAT, RENAME = 16, 17, 18
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201
OK, EOF, NO_SUCH_FILE, FAILURE, OP_UNSUPPORTED = 0, 1, 2, 4, 8
F_WRITE, F_TRUNC = 2, 16
A_SIZE, A_PERM, A_TIME = 1, 4, 8
DIR_MODE, FILE_MODE = 0o40755, 0o100644


def u32(v):
    return struct.pack('>I', v & 0xFFFFFFFF)


def u64(v):
    return struct.pack('>Q', v)


def pstr(b):
    if isinstance(b, str):
        b = b.encode('utf-8')
    return u32(len(b)) + b


def attrs(mode, size):
    return u32(A_SIZE | A_PERM | A_TIME) + u64(size) + u32(mode) + u32(1700000000) * 2


def packet(ptype, body):
    return u32(len(body) + 1) + bytes([ptype]) + body


class Parse:
    def __init__(self, b):
        self.b, self.p = b, 0

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

    def path(self):
        return self.bytes().decode('utf-8', 'surrogateescape')


def bad_reply(kind, ptype, rid):
    """A broken reply of type ptype to request rid."""
    if kind == 'short':
        bodies = {
            ATTRS: u32(rid) + u32(A_SIZE | A_PERM) + b'\x00\x00\x00',
            NAME: u32(rid) + u32(3) + pstr('ok.txt') + pstr('-rw-r--r-- ok.txt') + u32(A_SIZE),
            DATA: u32(rid) + u32(1000) + b'only ten b',
            EXTENDED_REPLY: u32(rid) + u32(10) + b'check',
        }
        return packet(ptype, bodies[ptype])
    if kind == 'silent':
        return b''
    if kind == 'md5':
        return packet(EXTENDED_REPLY, u32(rid) + pstr('check-file') + pstr('md5') + b'\x11' * 16)
    if kind == 'oversized':
        return u32(64 << 20) + bytes([ptype]) + u32(rid) + b'\xab' * (64 << 10)
    # garbage: a packet of a type SFTP does not have, then bytes that are not packets at all
    junk = bytes((i * 97 + 13) & 0xFF for i in range(300))
    return u32(9) + bytes([0xEE]) + u32(rid) + b'\xde\xad\xbe\xef' + junk


class Tree:
    """The served files; uploads land in `files`."""

    def __init__(self, mode):
        self.mode = mode
        self.lock = threading.Lock()
        self.dirs = {'/': ['tree', 'flat'], '/tree': ['ok.txt', 'sub'], '/tree/sub': ['ok.txt'],
                     '/flat': ['ok.txt']}
        if mode == 'names':
            self.dirs['/tree'] += HOSTILE
            self.dirs['/flat'] += HOSTILE
            self.dirs['/up'] = ['ok.txt', '../up.txt']
            self.dirs['/'].append('up')
        self.files = {'/tree/ok.txt': CONTENT, '/tree/sub/ok.txt': CONTENT, '/flat/ok.txt': CONTENT}

    def norm(self, p):
        return posixpath.normpath('/' + p.lstrip('/'))

    def lookup(self, p):
        """('dir', None) | ('file', bytes) | None"""
        if p in self.dirs:
            return ('dir', None)
        with self.lock:
            if p in self.files:
                return ('file', self.files[p])
        if self.mode == 'names':
            return ('file', CONTENT)
        return None

    def entry(self, d, name):
        kind = 'dir' if posixpath.join(d, name) in self.dirs and name not in HOSTILE else 'file'
        full = self.files.get(posixpath.join(d, name), CONTENT)
        mode, size = (DIR_MODE, 0) if kind == 'dir' else (FILE_MODE, len(full))
        long = '%s 1 u u %d Jan 1 00:00 %s' % ('drwxr-xr-x' if kind == 'dir' else '-rw-r--r--',
                                                size, name)
        return pstr(name) + pstr(long) + attrs(mode, size)


class HostileSftp(paramiko.SubsystemHandler):
    """A raw SFTP v3 server on the channel, lying as the mode says."""

    def __init__(self, channel, name, server, tree, mode):
        super().__init__(channel, name, server)
        self.tree, self.mode = tree, mode
        kind, _, req = mode.partition(':')
        self.bad = (kind, req) if req else None
        self.handles = {}
        self.next_handle = 0

    def recv_exact(self, ch, n):
        out = b''
        while len(out) < n:
            d = ch.recv(n - len(out))
            if not d:
                raise EOFError()
            out += d
        return out

    def start_subsystem(self, name, transport, channel):
        try:
            while True:
                n = struct.unpack('>I', self.recv_exact(channel, 4))[0]
                body = self.recv_exact(channel, n)
                out = self.handle(body[0], Parse(body[1:]))
                if out is not None:
                    channel.sendall(out)
                if out is not None and self.stalled:
                    # a lie was told: keep the channel open and silent, as a stuck server would
                    while not channel.closed and transport.is_active():
                        time.sleep(0.1)
                    return
        except (EOFError, OSError, socket.error):
            pass

    stalled = False

    def lie(self, req, ptype, rid):
        if self.bad and self.bad[1] == req:
            self.stalled = True
            return bad_reply(self.bad[0], ptype, rid)
        return None

    def status(self, rid, code, msg=''):
        return packet(STATUS, u32(rid) + u32(code) + pstr(msg) + pstr(''))

    def handle(self, ptype, r):
        if ptype == INIT:
            return packet(VERSION, u32(3) + pstr('check-file-name') + pstr('1'))
        rid = r.u32()
        t = self.tree
        if ptype == REALPATH:
            p = t.norm(r.path())
            return packet(NAME, u32(rid) + u32(1) + pstr(p) + pstr(p) + u32(0))
        if ptype in (STAT, LSTAT):
            p = t.norm(r.path())
            if p.endswith('ok.txt'):
                bad = self.lie('stat', ATTRS, rid)
                if bad is not None:
                    return bad
            found = t.lookup(p)
            if found is None:
                return self.status(rid, NO_SUCH_FILE, 'No such file')
            kind, data = found
            a = attrs(DIR_MODE, 0) if kind == 'dir' else attrs(FILE_MODE, len(data))
            return packet(ATTRS, u32(rid) + a)
        if ptype == OPENDIR:
            p = t.norm(r.path())
            if p not in t.dirs:
                return self.status(rid, NO_SUCH_FILE, 'No such file')
            return self.new_handle(rid, {'dir': p, 'done': False})
        if ptype == READDIR:
            h = self.handles.get(r.bytes())
            if h is None or 'dir' not in h:
                return self.status(rid, FAILURE, 'bad handle')
            bad = self.lie('readdir', NAME, rid)
            if bad is not None:
                return bad
            if h['done']:
                return self.status(rid, EOF, 'EOF')
            h['done'] = True
            names = t.dirs[h['dir']]
            return packet(NAME, u32(rid) + u32(len(names)) +
                          b''.join(t.entry(h['dir'], n) for n in names))
        if ptype == OPEN:
            p = t.norm(r.path())
            flags = r.u32()
            if flags & F_WRITE:
                with t.lock:
                    if flags & F_TRUNC or p not in t.files:
                        t.files[p] = b''
                return self.new_handle(rid, {'file': p, 'write': True})
            if self.mode == 'names' and posixpath.basename(p) == 'fail.txt':
                return self.status(rid, FAILURE, 'refused \x1b]0;pwned\x07 by \x1b[2J policy')
            found = t.lookup(p)
            if found is None or found[0] != 'file':
                return self.status(rid, NO_SUCH_FILE, 'No such file')
            return self.new_handle(rid, {'file': p, 'data': found[1]})
        if ptype == READ:
            h = self.handles.get(r.bytes())
            off, ln = r.u64(), r.u32()
            if h is None or 'file' not in h:
                return self.status(rid, FAILURE, 'bad handle')
            bad = self.lie('read', DATA, rid)
            if bad is not None:
                return bad
            data = h['data'] if 'data' in h else t.files.get(h['file'], b'')
            if off >= len(data):
                return self.status(rid, EOF, 'EOF')
            return packet(DATA, u32(rid) + pstr(data[off:off + min(ln, 32768)]))
        if ptype == WRITE:
            h = self.handles.get(r.bytes())
            off, data = r.u64(), r.bytes()
            if h is None or not h.get('write'):
                return self.status(rid, FAILURE, 'bad handle')
            with t.lock:
                cur = t.files.get(h['file'], b'')
                if len(cur) < off:
                    cur += b'\0' * (off - len(cur))
                t.files[h['file']] = cur[:off] + data + cur[off + len(data):]
            return self.status(rid, OK)
        if ptype == FSTAT:
            h = self.handles.get(r.bytes())
            if h is None or 'file' not in h:
                return self.status(rid, FAILURE, 'bad handle')
            data = h['data'] if 'data' in h else t.files.get(h['file'], b'')
            return packet(ATTRS, u32(rid) + attrs(FILE_MODE, len(data)))
        if ptype == CLOSE:
            self.handles.pop(r.bytes(), None)
            return self.status(rid, OK)
        if ptype in (SETSTAT, FSETSTAT):
            return self.status(rid, OK)
        if ptype == EXTENDED:
            name = r.bytes()
            if name != b'check-file-name':
                return self.status(rid, OP_UNSUPPORTED, 'unsupported')
            bad = self.lie('checkfile', EXTENDED_REPLY, rid)
            if bad is not None:
                return bad
            p = t.norm(r.path())
            r.bytes()
            off, ln = r.u64(), r.u64()
            found = t.lookup(p)
            if found is None or found[0] != 'file':
                return self.status(rid, NO_SUCH_FILE, 'No such file')
            data = found[1]
            digest = hashlib.sha256(data[off:off + ln] if ln else data[off:]).digest()
            if self.mode == 'wronghash':
                digest = hashlib.sha256(b'not ' + digest).digest()
            return packet(EXTENDED_REPLY, u32(rid) + pstr('check-file') + pstr('sha256') + digest)
        return self.status(rid, OP_UNSUPPORTED, 'unsupported')

    def new_handle(self, rid, h):
        self.next_handle += 1
        key = b'h%d' % self.next_handle
        self.handles[key] = h
        return packet(HANDLE, u32(rid) + pstr(key))


class Server(paramiko.ServerInterface):
    def __init__(self, password, tree, mode):
        self.password, self.tree, self.mode = password, tree, mode

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == 'session' else \
            paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username):
        return 'password'

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL if password == self.password else paramiko.AUTH_FAILED

    def check_channel_exec_request(self, channel, command):
        cmd = command.decode('utf-8', 'surrogateescape')
        if not cmd.startswith('sha256sum '):
            return False
        path = cmd[len('sha256sum '):]
        if len(path) >= 2 and path[0] == "'" and path[-1] == "'":
            path = path[1:-1].replace("'\\''", "'")
        threading.Thread(target=self.answer_hash, args=(channel, path), daemon=True).start()
        return True

    def answer_hash(self, channel, path):
        time.sleep(0.05)  # after the exec request's success reply
        found = self.tree.lookup(self.tree.norm(path))
        try:
            if found is None or found[0] != 'file':
                channel.sendall_stderr(b'sha256sum: no such file\n')
                channel.send_exit_status(1)
            else:
                digest = hashlib.sha256(found[1]).hexdigest()
                if self.mode == 'wronghash':
                    digest = hashlib.sha256(b'not ' + digest.encode()).hexdigest()
                channel.sendall(('%s  %s\n' % (digest, path)).encode('utf-8', 'surrogateescape'))
                channel.send_exit_status(0)
            channel.close()
        except (OSError, EOFError):
            pass


def host_key(path):
    if not os.path.exists(path):
        paramiko.RSAKey.generate(2048).write_private_key_file(path)
    return paramiko.RSAKey.from_private_key_file(path)


def serve(conn, key, password, mode):
    tree = TREES.setdefault(mode, Tree(mode))
    t = paramiko.Transport(conn)
    t.add_server_key(key)
    t.set_subsystem_handler('sftp', HostileSftp, tree, mode)
    try:
        t.start_server(server=Server(password, tree, mode))
    except (paramiko.SSHException, EOFError, OSError):
        return


TREES = {}


def main():
    args = sys.argv[1:]
    mode = args[0]
    key_file = args[args.index('--key') + 1]
    password = args[args.index('--password') + 1] if '--password' in args else 'pw'
    key = host_key(key_file)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', 0))
    s.listen(16)
    print(s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, key, password, mode), daemon=True).start()


if __name__ == '__main__':
    main()
