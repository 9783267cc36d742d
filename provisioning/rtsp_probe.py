"""Ask an RTSP camera for its stream description (DESCRIBE) to tell the installer exactly what is wrong.

OpenCV only says "cannot open"; one DESCRIBE request tells an unreachable camera from a refused password, a
wrong path, or a camera that wants a password. Basic and Digest (MD5) authentication are answered.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_RTSP_PORT = 554


class StreamProblem(Exception):
    """The stream cannot be used; the message names the cause and the fix."""


def _request(host: str, port: int, url: str, auth: str | None, timeout_s: float) -> tuple[int, dict[str, str]]:
    lines = [f"DESCRIBE {url} RTSP/1.0", "CSeq: 1", "Accept: application/sdp", "User-Agent: outpost-provision"]
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except TimeoutError as err:
        raise StreamProblem(
            f"unreachable: {host}:{port} did not answer within {timeout_s:.0f} s; check the camera's address, "
            "that it is powered and on this network"
        ) from err
    except OSError as err:
        raise StreamProblem(
            f"unreachable: cannot connect to {host}:{port} ({err.strerror or err}); check the camera's address "
            "and RTSP port, and that it is powered and on this network"
        ) from err
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    match = re.match(r"RTSP/\d\.\d (\d{3})", head[0] if head else "")
    if match is None:
        raise StreamProblem(f"{host}:{port} does not speak RTSP (it answered {head[0][:60]!r}); check the port")
    headers = {}
    for line in head[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(match.group(1)), headers


def _digest(challenge: str, user: str, password: str, url: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()  # noqa: S324 - RTSP Digest is MD5
    ha2 = hashlib.md5(f"DESCRIBE:{url}".encode()).hexdigest()  # noqa: S324
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{url}", response="{response}"'


def probe_rtsp(url: str, timeout_s: float = 5.0) -> None:
    """Raise StreamProblem unless the camera describes the stream at `url` (with the URL's credentials)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise StreamProblem(f"{url!r} has no host; write it as rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH")
    port = parts.port or DEFAULT_RTSP_PORT
    netloc = host + (f":{parts.port}" if parts.port else "")
    bare = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    status, headers = _request(host, port, bare, None, timeout_s)
    user = unquote(parts.username) if parts.username else None
    if status == 401:
        if user is None:
            raise StreamProblem(
                f"authentication required: the camera at {netloc} wants a user and password; "
                "write them in the URL: rtsp://USER:PASSWORD@HOST/PATH"
            )
        password = unquote(parts.password or "")
        challenge = headers.get("www-authenticate", "")
        if challenge.lower().startswith("digest"):
            answer = _digest(challenge, user, password, bare)
        else:
            answer = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        status, headers = _request(host, port, bare, answer, timeout_s)
        if status == 401:
            raise StreamProblem(
                f"authentication failed: the camera at {netloc} refused user {user!r}; check the user and password "
                "in the URL (rtsp://USER:PASSWORD@HOST/PATH)"
            )
    if status == 404:
        raise StreamProblem(
            f"no stream at {parts.path or '/'} on {netloc} (RTSP 404); check the stream path in the camera's manual"
        )
    if status >= 400:
        raise StreamProblem(f"the camera at {netloc} answered RTSP {status}; check the URL and the camera's settings")
