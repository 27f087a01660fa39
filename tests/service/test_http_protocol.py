"""pmserve's httptools protocol sends a response's head with its body (one write): nothing it holds
may be lost or wait - a reply without a body, ``100 Continue``, a refusal that closes the connection."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.service.conftest import RunningServer

from pmserve.api import create_app
from pmserve.api._server import protocol_for, uvicorn_options
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore


def _read_reply(s: socket.socket, body_bytes: int = 0) -> bytes:
    """One reply's head, and ``body_bytes`` of body after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"the connection closed after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    while len(rest) < body_bytes:
        chunk = s.recv(65536)
        assert chunk, f"the connection closed after {data + rest!r}"
        rest += chunk
    return head + b"\r\n\r\n" + rest


def test_replies_without_a_body_and_continue_are_sent_at_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    service = Service(settings, SQLiteStore(tmp_path))
    key = service.create_key("t")
    with RunningServer(create_app(settings, service), http=protocol_for(settings),
                       **uvicorn_options(settings)) as running, \
            socket.create_connection(("127.0.0.1", running.port)) as s:
        s.settimeout(10)
        s.sendall(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")  # a head, and no body to carry it
        assert _read_reply(s).startswith(b"HTTP/1.1 200 ")
        s.sendall(f"POST /pm/v1/score/none?accesskey={key} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  f"Expect: 100-continue\r\n\r\n".encode())
        assert _read_reply(s) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the client sends the body
        s.sendall(b"{}")
        reply = _read_reply(s)
        assert reply.startswith(b"HTTP/1.1 200 ")
        length = int(reply.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(reply.partition(b"\r\n\r\n")[2]) < length:
            reply += s.recv(65536)
        assert b'"flag":false' in reply
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection goes on
        assert _read_reply(s, len(b'{"status":"ok"}')).endswith(b'{"status":"ok"}')


def test_a_refusal_that_closes_the_connection_is_sent_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_header_kb=4)
    with RunningServer(create_app(settings), http=protocol_for(settings),
                       **uvicorn_options(settings)) as running, \
            socket.create_connection(("127.0.0.1", running.port)) as s:
        s.settimeout(10)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        assert _read_reply(s).startswith(b"HTTP/1.1 400 ")
