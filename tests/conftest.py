"""Fixtures shared by the data tests: a loopback HTTP server and a clean data environment."""

import functools
import hashlib
import http.server
import threading
from pathlib import Path
from typing import NamedTuple

import pytest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    truncate: dict[str, int] = {}  # url path (no leading "/") -> bytes actually sent

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def copyfile(self, source, outputfile):
        limit = self.truncate.get(self.path.lstrip("/"))
        if limit is None:
            return super().copyfile(source, outputfile)
        outputfile.write(source.read(limit))  # Content-Length announced the full size
        self.close_connection = True
        return None


class Server(NamedTuple):
    root: Path
    url: str
    truncate: dict[str, int]
    httpd: http.server.ThreadingHTTPServer

    def publish(self, key: str, data: bytes, served: bytes | None = None) -> dict[str, str]:
        """Serve ``served`` (default ``data``) at ``key``; the entry carries ``data``'s hash."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if served is None else served)
        return {"url": self.url + key, "hash": "sha256:" + hashlib.sha256(data).hexdigest()}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def clean_data_environment(monkeypatch):
    for var in ("VAEKIT_DATA_DIR", "VAEKIT_OFFLINE", "VAEKIT_DATA_REGISTRY", "HTTP_PROXY",
                "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = type("Handler", (_QuietHandler,), {"truncate": {}})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    srv = Server(root, f"http://127.0.0.1:{httpd.server_port}/", handler.truncate, httpd)
    try:
        yield srv
    finally:
        srv.stop()


