"""Where the host plugs in: a pseudo-terminal or a TCP listener, each a real serial endpoint.

PtyTransport prints a /dev/pts/N path that pyserial opens like a USB-RS485 adapter;
TcpTransport listens like a 4G serial-to-TCP bridge (pyserial URL socket://host:port). Bytes from
the host go to `on_receive`; send() writes to the host and is dropped when nobody is listening,
as bytes on an unwatched wire are.
"""
import errno
import os
import select
import socket
import threading
import tty


class PtyTransport:
    """The pty's descriptors are plain numbers, which the process hands out again as soon as they are
    closed: nothing may read, write or close them after stop() (it would touch whatever file, socket
    or pipe got the number next), so send() and stop() hold a lock and stop() waits for the reader."""

    def __init__(self, on_receive):
        self.on_receive = on_receive
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: a clean 8-bit wire
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.url = self.path
        self._stop = False
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="sim-pty", daemon=True)

    def start(self):
        self._thread.start()
        return self.url

    def _read(self):
        while not self._stop:
            try:
                r, _, _ = select.select([self.master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # no one has the slave open right now
                    continue
                return
            if data:
                self.on_receive(data)

    def send(self, data):
        with self._lock:
            if self._closed:
                return  # stopped: the wire is gone
            try:
                os.write(self.master, data)
            except (BlockingIOError, OSError):
                pass  # buffer full: lost, like bytes nobody listens to

    def stop(self):
        self._stop = True
        if self._thread.is_alive():
            self._thread.join(10)  # it sees _stop within one 50 ms select()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self.master, self.slave):
                try:
                    os.close(fd)
                except OSError:
                    pass


class TcpTransport:
    def __init__(self, on_receive, host="127.0.0.1", port=0):
        self.on_receive = on_receive
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(2)
        self.host, self.port = self.sock.getsockname()
        self.url = "socket://%s:%d" % (self.host, self.port)
        self.client = None
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._accept, name="sim-tcp", daemon=True)

    def start(self):
        self._thread.start()
        return self.url

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                old, self.client = self.client, conn  # a new connection replaces the old one
            if old is not None:
                _close(old)
            threading.Thread(target=self._read, args=(conn,), name="sim-tcp-client", daemon=True).start()

    def _read(self, conn):
        while not self._stop:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                with self._lock:
                    if self.client is conn:
                        self.client = None
                _close(conn)
                return
            self.on_receive(data)

    def send(self, data):
        with self._lock:
            c = self.client
        if c is None:
            return
        try:
            c.sendall(data)
        except OSError:
            pass

    def drop(self):
        """Close the host's connection now (its reader thread sees the close and ends)."""
        with self._lock:
            c, self.client = self.client, None
        if c is not None:
            _close(c)

    def stop(self):
        self._stop = True
        with self._lock:
            c, self.client = self.client, None
        if c is not None:
            _close(c)
        _close(self.sock)
        self._thread.join(1)


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
