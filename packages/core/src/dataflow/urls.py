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
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from .errors import ConfigurationError

MEMORY = ":memory:"
_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9.]*)(?:\+(?P<driver>[a-zA-Z0-9_]+))?://(?P<rest>.*)$", re.S)
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
#: query keys whose values are secrets: password, pass, passwd, pwd, sslpassword, passfile, secret, client_secret,
#: token, auth_token, apikey, sslkey, credentials, authMechanismProperties (MongoDB: AWS_SESSION_TOKEN:…), sig
_SECRET_KEYS = re.compile(r"pass|pwd|secret|token|key|credential|auth_?mechanism_?properties|^sig$|signature", re.I)
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
    query: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"DatabaseURL({self.masked()!r})"

    @property
    def is_memory(self) -> bool:
        return self.database in (None, "", MEMORY)

    def masked(self) -> str:
        """The URL as text with the password (and secret query values) replaced by ``***``."""
        scheme = f"{self.scheme}+{self.driver}" if self.driver else self.scheme
        query = f"?{_masked_query(self.query)}" if self.query else ""
        if self.host is None and self.username is None:
            return f"{scheme}:///{self.database or ''}{query}"
        auth = ""
        if self.username is not None:
            auth = self.username + (":***" if self.password is not None else "") + "@"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port is not None else ""
        db = f"/{self.database}" if self.database else ""
        return f"{scheme}://{auth}{host}{port}{db}{query}"

    def __str__(self) -> str:
        return self.masked()

    def secrets(self) -> list[str]:
        """Every secret this URL holds (the password, secret query values), longest first."""
        found = [v for k, v in self.query.items() if is_secret_key(k) and v]
        for value in list(found):  # MongoDB's "AWS_SESSION_TOKEN:tok,SERVICE_NAME:x" lists: each value too
            found += [item.partition(":")[2] for item in value.split(",") if item.partition(":")[2]]
        if self.password:
            found.append(self.password)
        return sorted(set(found), key=len, reverse=True)


def is_secret_key(key: str) -> bool:
    """Whether a URL query option holds a secret (``password``, ``sslpassword``, ``pwd``, ``token``, …)."""
    return bool(_SECRET_KEYS.search(key))


def _masked_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{k}={'***' if is_secret_key(k) else v}" for k, v in query.items())


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


_QUERY_SECRET = re.compile(r"(?P<key>[^?&=;\s]+)=(?P<value>[^&;\s]*)")


def _mask_unparsed(raw: str) -> str:
    """Best-effort masking for text that did not parse as a URL: the userinfo and secret query values."""
    raw = _QUERY_SECRET.sub(lambda m: f"{m['key']}=***" if is_secret_key(m["key"]) else m[0], raw)
    at = raw.rfind("@")
    if at < 0:
        return raw
    head, tail = raw[:at], raw[at:]
    user, sep, _ = head.rpartition(":")
    return f"{user}:***{tail}" if sep else f"***{tail}"


def mask_secrets(text: str, url: DatabaseURL | None) -> str:
    """Remove ``url``'s secrets (password, secret query values, also percent-encoded) from arbitrary text
    such as a driver error message."""
    if url is None:
        return text
    for secret in url.secrets():
        for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
            text = text.replace(form, "***")
    return text
