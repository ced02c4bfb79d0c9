"""xenstored's Unix socket: what the command-line tools (xenstore-read,
xenstore-ls, xenstore-watch ...) and libxenstore connect to. They find it
through $XENSTORED_PATH (libxenstore's xs_daemon_socket(), and
xs_domain_dev() too, which is why xs_open() works with nothing else set).

The protocol is the ring's: `struct xsd_sockmsg` headers and payloads, in a
byte stream. A socket connection is dom0 (xenstored gives socket clients
full privilege). A header announcing more than XENSTORE_PAYLOAD_MAX bytes
closes the connection, as xenstored drops a socket it ignores.

One thread serves every socket with a selector; it takes the daemon's lock
around each request, so requests from sockets, from guests' rings and from
the host's own calls are handled one at a time.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
from pathlib import Path

from .xenstored import HEADER_BYTES, PAYLOAD_MAX, Xenstored, unpack_header

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class SocketTransport:
    def __init__(self, server: "XenstoreSocket", sock: socket.socket):
        self.server = server
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.conn = None
        self.closed = False

    def flush(self, conn) -> None:
        """Called with the daemon's lock held, from any thread."""
        while conn.out:
            self.outbuf += conn.out.popleft()
        self.send_some()
        if self.outbuf:
            self.server.wants_write(self)

    def send_some(self) -> None:
        if self.closed or not self.outbuf:
            return
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.closed = True  # the peer went away; the loop cleans up
            self.server.wants_write(self)
            return
        del self.outbuf[:sent]

    def reset(self) -> None:
        self.inbuf.clear()


class XenstoreSocket:
    """Serves `daemon` on the Unix socket at `path` from a background thread."""

    def __init__(self, daemon: Xenstored, path: str):
        self.daemon = daemon
        self.path = path
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._dirty: set[SocketTransport] = set()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self.clients = 0

    def start(self) -> None:
        p = Path(self.path)
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if p.exists() or p.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.path)
                raise OSError(f"a xenstore daemon is already listening at {self.path}")
            except (ConnectionRefusedError, FileNotFoundError):
                p.unlink()  # stale
            finally:
                probe.close()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self._listener.listen(16)
        self._listener.setblocking(False)
        self._sel.register(self._listener, READ, "listen")
        self._sel.register(self._wake_r, READ, "wake")
        self._thread = threading.Thread(target=self._loop, name="xenstored-socket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            if isinstance(key.data, SocketTransport):
                self._close(key.data)
        for s in (self._listener, self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._sel.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def wants_write(self, t: SocketTransport) -> None:
        self._dirty.add(t)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def _loop(self) -> None:
        while not self._stop:
            for key, events in self._sel.select(timeout=1.0):
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                else:
                    t = key.data
                    if events & READ:
                        self._readable(t)
                    if events & WRITE and not t.closed:
                        with self.daemon.lock:
                            t.send_some()
                            self._dirty.add(t)
            with self.daemon.lock:
                dirty, self._dirty = self._dirty, set()
                for t in dirty:
                    if t.closed:
                        self._close(t)
                    elif t.sock.fileno() >= 0:
                        self._sel.modify(t.sock, READ | WRITE if t.outbuf else READ, t)

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        t = SocketTransport(self, sock)
        self.clients += 1
        with self.daemon.lock:
            t.conn = self.daemon.connect(0, t, privileged=True, label=f"socket client {self.clients}")
        self._sel.register(sock, READ, t)

    def _readable(self, t: SocketTransport) -> None:
        try:
            data = t.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            t.closed = True
            self._dirty.add(t)
            return
        t.inbuf += data
        with self.daemon.lock:
            while len(t.inbuf) >= HEADER_BYTES and not t.closed:
                msg_type, req_id, tx_id, length = unpack_header(bytes(t.inbuf[:HEADER_BYTES]))
                if length > PAYLOAD_MAX:
                    self.daemon.notes.append(f"{t.conn.label}: a request of {length} bytes: connection dropped")
                    t.closed = True
                    self._dirty.add(t)
                    break
                if len(t.inbuf) < HEADER_BYTES + length:
                    break
                payload = bytes(t.inbuf[HEADER_BYTES:HEADER_BYTES + length])
                del t.inbuf[:HEADER_BYTES + length]
                try:
                    self.daemon.process(t.conn, msg_type, req_id, tx_id, payload)
                except Exception as err:  # noqa: BLE001 - a model bug must not stop the other clients
                    self.daemon.notes.append(f"{t.conn.label}: internal error {type(err).__name__}: {err}")
                    t.closed = True
                    self._dirty.add(t)
            self.daemon.flush()

    def _close(self, t: SocketTransport) -> None:
        with self.daemon.lock:
            if t.conn is not None:
                self.daemon.disconnect(t.conn)
        try:
            self._sel.unregister(t.sock)
        except (KeyError, ValueError):
            pass
        t.closed = True
        t.sock.close()
