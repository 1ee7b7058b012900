"""A raw RFC 6455 client for the conformance cases: it writes any frame,
valid or not (reserved bits, opcodes, lengths, fragmentation), in any chops,
and records every frame the server sends with the time it came.

Every wait is bounded in time; it connects to 127.0.0.1 only."""

import base64
import hashlib
import os
import socket
import struct
import threading
import time

from conftest import HOST, ws_frame as frame  # noqa: F401 (cases build frames with it)

GUID_RFC6455 = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    return struct.pack(">H", code) + (reason.encode() if isinstance(reason, str) else reason)


class Received:
    """A frame from the server and when it arrived."""

    def __init__(self, opcode, payload, at):
        self.opcode = opcode
        self.payload = payload
        self.at = at

    @property
    def close_code(self):
        if self.opcode != CLOSE:
            return None
        return struct.unpack(">H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005


class Connection:
    """One upgraded connection; a thread reads the server's frames."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.frames = []
        self.eof_at = None
        self.send_error = None
        self._closing = False
        self._changed = threading.Condition()
        self._send_lock = threading.Lock()
        self._handshake(port)
        self._reader = threading.Thread(target=self._read_frames, daemon=True)
        self._reader.start()

    def _handshake(self, port):
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /api/v1/events HTTP/1.1\r\n"
                f"Host: {HOST}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"no upgrade: {head!r}")
            head += chunk
        head, self._rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise ConnectionError(f"no upgrade: {lines[0]}")
        accept = base64.b64encode(hashlib.sha1((key + GUID_RFC6455).encode()).digest()).decode()
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        if headers.get("sec-websocket-accept") != accept:
            raise ConnectionError(f"wrong Sec-WebSocket-Accept: {headers}")

    def _recv_exact(self, n, buffer):
        while len(buffer) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(buffer)))
            except socket.timeout:
                # The socket's timeout bounds sends; reading waits until close().
                if self._closing:
                    raise EOFError
                continue
            if not chunk:
                raise EOFError
            buffer += chunk
        return buffer[:n], buffer[n:]

    def _read_frames(self):
        buffer = self._rest
        try:
            while True:
                head, buffer = self._recv_exact(2, buffer)
                opcode = head[0] & 0x0F
                n = head[1] & 0x7F
                if n == 126:
                    raw, buffer = self._recv_exact(2, buffer)
                    n = struct.unpack(">H", raw)[0]
                elif n == 127:
                    raw, buffer = self._recv_exact(8, buffer)
                    n = struct.unpack(">Q", raw)[0]
                if head[1] & 0x80:
                    raise ConnectionError("the server masked a frame")
                payload, buffer = self._recv_exact(n, buffer)
                if opcode == PING:
                    self.send(frame(PONG, payload))
                    continue
                with self._changed:
                    self.frames.append(Received(opcode, payload, time.monotonic()))
                    self._changed.notify_all()
        except (EOFError, OSError, ConnectionError):
            with self._changed:
                self.eof_at = time.monotonic()
                self._changed.notify_all()

    def send(self, data, chop=None, delay=0.0):
        """Sends bytes at once, or in pieces of `chop` bytes `delay` s apart.
        False when the server already ended the connection."""
        pieces = [data] if not chop else [data[i:i + chop] for i in range(0, len(data), chop)]
        try:
            for i, piece in enumerate(pieces):
                with self._send_lock:
                    self.sock.sendall(piece)
                if delay and i + 1 < len(pieces):
                    time.sleep(delay)
            return True
        except OSError as e:
            self.send_error = e
            return False

    def wait_for(self, predicate, timeout):
        """Waits until predicate(frames, eof) holds or `timeout` s pass."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.frames, self.eof_at is not None):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def close(self):
        self._closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._reader.join(timeout=5)
