"""Serve a dashboard folder over HTTP on 127.0.0.1 only: runs, tags and params are not for the network."""
from __future__ import annotations

import functools
import http.server
import os
import sys
from pathlib import Path

HOST = "127.0.0.1"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a browser closed the connection early: no traceback
            return
        super().handle_error(request, client_address)


def make_server(directory: str | os.PathLike, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server for ``directory`` bound to 127.0.0.1 (``port`` 0: a free one); call ``serve_forever``."""
    handler = functools.partial(_QuietHandler, directory=str(Path(directory).resolve()))
    try:
        return _Server((HOST, port), handler)
    except OSError as error:
        from s2hand.errors import S2HandError

        raise S2HandError(f"cannot serve on {HOST}:{port} ({error.strerror}); choose another --port") from None


def serve(directory: str | os.PathLike, port: int = 0) -> None:
    """Serve until Ctrl-C, printing the URL."""
    server = make_server(directory, port)
    host, bound = server.server_address[:2]
    print(f"dashboard: http://{host}:{bound}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()


__all__ = ["HOST", "make_server", "serve"]
