"""Fault injection for the functional suite: a loopback TCP proxy that can hang or die, and a runner
that pauses (so a test can kill it) around every read and write of the published objects.

These stand in for what cannot be provoked for real here: a network path to S3 that stops answering
or drops, and the instants between two requests of a run. The store, moto's S3 server, the CLI and
the processes are all real.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading

COUNTS: collections.Counter[str] = collections.Counter()
"""Scenario counts the functional conftest prints at the end of the run."""

MARKER = "kabucast-fault:"


class LoopbackProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target_port``.

    ``mode`` ``forward`` relays bytes; ``hang`` accepts connections and reads requests but never
    answers (an endpoint that is up but stuck). :meth:`kill` stops listening and resets every open
    connection (an endpoint that dies mid-run).
    """

    def __init__(self, target_port: int, mode: str = "forward") -> None:
        self.target_port, self.mode = target_port, mode
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._alive = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while self._alive:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._alive:
                client.close()
                return
            with self._lock:
                self._open.append(client)
            if self.mode == "hang":
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _swallow(sock: socket.socket) -> None:
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def kill(self) -> None:
        self._alive = False
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        self._server.close()
        with self._lock:
            for s in self._open:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                except OSError:
                    pass
            self._open.clear()
