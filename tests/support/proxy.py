"""A TCP proxy in front of a storage service, so a test can cut the connection for real (and restore it)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.azurite import ACCOUNT, KEY, Azurite, free_port


class CuttableProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._cut = threading.Event()
        self._batches_left: int | None = None
        self._lose_answer = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if self._cut.is_set():
                client.close()  # the service is unreachable: connection closed at once
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            pair: dict[str, bool] = {"losing": False}
            threading.Thread(target=self._pipe, args=(client, upstream, True, pair), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False, pair), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, outbound: bool = False,
              pair: dict[str, bool] | None = None) -> None:
        try:
            while data := source.recv(65536):
                if pair is not None and not outbound and pair["losing"]:
                    return  # storage answered; the answer never reaches the client (closed in `finally`)
                if outbound and pair is not None and self._lose_answer and b"/$batch " in data:
                    self._lose_answer = False
                    pair["losing"] = True
                if outbound and self._batches_left is not None and b"/$batch " in data:
                    if self._batches_left == 0:
                        self._batches_left = None
                        self.cut()  # this transaction never reaches storage
                        return
                    self._batches_left -= 1
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)  # at once, even while the other direction's thread reads it
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Drops every open connection and refuses new ones until `restore`."""
        self._cut.set()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._sockets.clear()

    def cut_after_transactions(self, count: int) -> None:
        """Lets `count` more entity group transactions through, then cuts the connection instead of sending the
        next one: an outage between two batches of one request."""
        self._batches_left = count

    def lose_next_answer(self) -> None:
        """The next entity group transaction reaches storage and is applied, but its answer is cut off: the
        client cannot know whether it was applied (an outcome it must report as unknown)."""
        self._lose_answer = True

    def connection_string(self, storage: Azurite, queues: bool = True) -> str:
        """A connection string whose table service is reached through this proxy (the queue service directly)."""
        endpoints = f"TableEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        if queues:
            endpoints += f"QueueEndpoint=http://127.0.0.1:{storage.queue_port}/{ACCOUNT};"
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};{endpoints}"

    def restore(self) -> None:
        """Connections are let through again, and a cut still planned by `cut_after_transactions` is dropped: a
        test whose request sent fewer transactions than planned must not cut the next test's."""
        self._batches_left = None
        self._lose_answer = False
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listener.close()

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.cut()
        try:
            yield
        finally:
            self.restore()
