"""Database URLs: parse the forms users write, and never show a password.

Accepted: ``sqlite:///app.db``, ``sqlite:///:memory:``, ``:memory:``, bare
``*.db`` paths, ``postgresql://…``, ``postgresql+asyncpg://…``, ``mysql://…``,
``mongodb://…`` and any ``scheme[+driver]://`` a plugin claims. Passwords may
contain ``#``, ``$``, ``@`` or ``/`` unencoded: the userinfo ends at the last
``@`` before the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from .errors import ConfigurationError

MEMORY = ":memory:"
_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9.]*)(?:\+(?P<driver>[a-zA-Z0-9_]+))?://(?P<rest>.*)$", re.S)
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_SECRET_KEYS = re.compile(r"pass|secret|token|key", re.I)
_FILE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _decode(value: str) -> str:
    return unquote(value) if _PCT.search(value) else value


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. ``str()`` and ``repr()`` mask the password."""

    scheme: str
    driver: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_memory(self) -> bool:
        return self.database in (None, "", MEMORY)

    def masked(self) -> str:
        """The URL as text with the password (and secret query values) replaced by ``***``."""
        scheme = f"{self.scheme}+{self.driver}" if self.driver else self.scheme
        if self.host is None and self.username is None:
            return f"{scheme}:///{self.database or ''}"
        auth = ""
        if self.username is not None:
            auth = self.username + (":***" if self.password is not None else "") + "@"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port is not None else ""
        db = f"/{self.database}" if self.database else ""
        query = ""
        if self.query:
            query = "?" + "&".join(
                f"{k}={'***' if _SECRET_KEYS.search(k) else v}" for k, v in self.query.items()
            )
        return f"{scheme}://{auth}{host}{port}{db}{query}"

    def __str__(self) -> str:
        return self.masked()


def parse_url(raw: str) -> DatabaseURL:
    """Parse ``raw`` into a :class:`DatabaseURL`; errors never echo the password."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigurationError("database URL must be a non-empty string, e.g. 'sqlite:///app.db'")
    raw = raw.strip()
    if raw == MEMORY:
        return DatabaseURL(scheme="sqlite", database=MEMORY)
    if raw.startswith("file:"):
        return DatabaseURL(scheme="sqlite", database=raw)
    match = _SCHEME.match(raw)
    if match is None:
        if raw.endswith(_FILE_SUFFIXES):
            return DatabaseURL(scheme="sqlite", database=raw)
        raise ConfigurationError(
            f"cannot parse database URL {_mask_unparsed(raw)!r}; expected 'scheme://…' such as "
            "'sqlite:///app.db', 'postgresql://user:pass@host:5432/db', 'mysql://…', 'mongodb://…', "
            "or ':memory:'"
        )
    scheme = match["scheme"].lower()
    if scheme == "postgres":
        scheme = "postgresql"
    driver = match["driver"]
    rest = match["rest"]
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        path, _, query = path.partition("?")
        return DatabaseURL(scheme="sqlite", driver=driver, database=path or MEMORY, query=dict(parse_qsl(query)))
    return _parse_network(scheme, driver, rest, raw)


def _parse_network(scheme: str, driver: str | None, rest: str, raw: str) -> DatabaseURL:
    username = password = None
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, sep, pw = userinfo.partition(":")
        username = _decode(user)
        password = _decode(pw) if sep else None
    hostport, _, pathquery = rest.partition("/")
    if "?" in hostport:  # mongodb://host?opts without a path
        hostport, _, q = hostport.partition("?")
        pathquery = "?" + q
    database, _, query = pathquery.partition("?")
    host, port = _split_host_port(hostport, scheme)
    return DatabaseURL(
        scheme=scheme,
        driver=driver,
        username=username or None,
        password=password,
        host=host or None,
        port=port,
        database=_decode(database) or None,
        query=dict(parse_qsl(query, keep_blank_values=True)),
    )


def _split_host_port(hostport: str, scheme: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
    else:  # no port, or a multi-host list (mongodb://a:1,b:2) kept whole
        return hostport, None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(f"invalid port {port_text!r} in {scheme} URL (host {host!r})")
    return host, int(port_text)


def _mask_unparsed(raw: str) -> str:
    """Best-effort masking for text that did not parse as a URL."""
    at = raw.rfind("@")
    if at < 0:
        return raw
    head, tail = raw[:at], raw[at:]
    user, sep, _ = head.rpartition(":")
    return f"{user}:***{tail}" if sep else f"***{tail}"


def mask_secrets(text: str, url: DatabaseURL | None) -> str:
    """Remove ``url``'s password from arbitrary text such as a driver error message."""
    if url is not None and url.password:
        text = text.replace(url.password, "***")
    return text
