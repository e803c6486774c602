"""A small tenantctl host in Python: load a vendor plugin, do its HTTP, return the outcome.

tenantctl's vendor plugins are WebAssembly components that never do I/O (the contract is in
``wit/`` at the top of the repository). A host calls ``begin-login``; the plugin answers
with a step: ``send`` (an HTTP request for the host to perform, plus opaque state),
``done`` (a session) or ``failed``. The host performs the request and calls
``resume-login`` with the response and the state, until the plugin is done. Actions on a
tenant run the same way with ``begin-action`` / ``resume-action``; a listing (contract
0.2) answers ``page`` steps, each with tenants and the request for the next page, and a
request may ask the host to wait first (``wait-ms``, when polling the vendor).

This module is that loop for wasmtime-py's runtime component API
(``wasmtime.component``, wasmtime-py 39 and later) and ``urllib``. It is an example, kept
small: the Rust host (``host/src/account.rs``) adds retries by effect, audit records, dry
runs, redaction and epoch deadlines.

How WIT values look in Python (see README.md for the full table):

* a record is a ``wasmtime.component.Record`` whose attributes carry the WIT field names
  **as written in WIT, kebab-case included**: ``getattr(outcome, "enabled-after")``.
  To pass one in, build any object with those attributes: :func:`record` does it.
* a variant is ``Variant(tag, payload)``, e.g. ``Variant("name", "Acme Corp")`` for a
  ``tenant-selector`` (but see README.md: wasmtime-py drops the tag when every case's
  payload has a different Python type; no variant of this contract is in that situation).
* an enum is a plain ``str``: ``"disable"``, ``"idempotent-write"``.
* ``option<T>`` is ``None`` or the value itself; ``list<u8>`` is ``bytes``; other lists
  are ``list``; ``u16``/``u32`` are ``int``; ``bool`` is ``bool``; ``string`` is ``str``.

Typical use::

    plugin = Plugin("acronis.wasm")
    account = Account(plugin, "https://eu2-cloud.acronis.com",
                      {"client-id": "...", "client-secret": "..."})
    outcome = account.run("disable", tenant_by_name("Acme Corp"))
    print(to_plain(outcome))
    for tenant in account.tenants():
        print(tenant.id, tenant.name, tenant.enabled)
"""

from __future__ import annotations

import base64
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator, Mapping, Optional

import wasmtime
from wasmtime.component import Component, Linker, Record, Variant

__all__ = [
    "ACTIONS",
    "Account",
    "HostError",
    "HttpSender",
    "ListingFailed",
    "LoginFailed",
    "Plugin",
    "PluginError",
    "RefusedRequest",
    "TransportError",
    "action_request",
    "config_from_env",
    "context",
    "error_detail",
    "field",
    "record",
    "tenant_by_id",
    "tenant_by_name",
    "to_plain",
]

#: The WIT interface every plugin exports; the version after ``@`` is the contract's.
INTERFACE_PREFIX = "tenantctl:plugin/plugin@"
#: The values of the WIT ``action`` enum, as wasmtime-py spells them.
ACTIONS = ("status", "disable", "enable", "offboard", "list", "delete")
#: The same caps as the Rust host's defaults (``host/src/plugin/sandbox.rs``).
MAX_STEPS = 50
MAX_REQUEST_BYTES = 1 << 20
MAX_RESPONSE_BYTES = 16 << 20
MEMORY_BYTES = 64 << 20
#: Fuel (roughly, WebAssembly instructions) one call into a plugin may burn: a plugin
#: stuck in a loop traps within a couple of seconds; reading a 30-company list takes
#: about a million.
FUEL_PER_CALL = 1_000_000_000
#: Renew a session this many seconds before the vendor says it expires.
RENEW_MARGIN_SECS = 60
#: The longest one operation may ask the host to wait in all (``wait-ms``).
MAX_WAIT_SECS = 300


# --------------------------------------------------------------------------------------
# Building and reading WIT values
# --------------------------------------------------------------------------------------


def record(fields: Mapping[str, Any]) -> Record:
    """A WIT record with these fields, named exactly as in WIT (kebab-case).

    ``Record()`` takes no arguments and ``base-url`` is not a Python identifier, so the
    fields are set through the instance's ``__dict__``. wasmtime-py reads each field the
    WIT type declares with ``getattr``; extra attributes are ignored, a missing one is an
    ``AttributeError``.
    """
    value = Record()
    value.__dict__.update(fields)
    return value


def field(value: Record, name: str) -> Any:
    """Reads a record's field by its WIT name: ``field(outcome, "enabled-after")``."""
    return getattr(value, name)


def tenant_by_name(name: str) -> Variant:
    """A ``tenant-selector``: the tenant named ``name``, matched as the vendor matches."""
    return Variant("name", name)


def tenant_by_id(tenant_id: str) -> Variant:
    """A ``tenant-selector``: the tenant with the vendor's id ``tenant_id``."""
    return Variant("id", tenant_id)


def action_request(action: str, tenant: Optional[Variant]) -> Record:
    """An ``action-request``: the ``action`` enum is a plain ``str`` such as ``"disable"``;
    ``tenant`` is an ``option<tenant-selector>``, ``None`` for ``"list"`` (and only then)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    return record({"action": action, "tenant": tenant})


def context(base_url: str, config: Mapping[str, str], now: Optional[float] = None) -> Record:
    """The ``context`` passed into every call: base URL, configuration values, and the
    current time as whole unix seconds (a ``u32``; plugins have no clock)."""
    seconds = int(time.time() if now is None else now)
    return record(
        {
            "base-url": base_url,
            "config": [record({"name": k, "value": v}) for k, v in config.items()],
            "now": _u32(seconds),
        }
    )


def error_detail(
    message: str, http_status: Optional[int] = None, vendor_code: Optional[str] = None
) -> Record:
    """An ``error-detail``, e.g. for ``Variant("auth", error_detail("..."))``."""
    return record({"message": message, "http-status": http_status, "vendor-code": vendor_code})


def to_plain(value: Any) -> Any:
    """Turns a value that came out of a plugin into JSON-ready Python: records become
    dicts keyed by WIT field names, variants ``{"tag": ..., "payload": ...}``, bytes
    base64 text."""
    if isinstance(value, Record):
        return {name: to_plain(v) for name, v in vars(value).items()}
    if isinstance(value, Variant):
        return {"tag": value.tag, "payload": to_plain(value.payload)}
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _u32(n: int) -> int:
    # wasmtime-py checks only that an integer is an int: a value out of range is silently
    # wrapped by ctypes (-1 becomes 4294967295). Check before passing one in.
    if not 0 <= n <= 0xFFFF_FFFF:
        raise ValueError(f"{n} does not fit in a u32")
    return n


# --------------------------------------------------------------------------------------
# Errors the host raises (a plugin's own failures come back as values, not exceptions)
# --------------------------------------------------------------------------------------


class HostError(Exception):
    """The host could not carry out an operation."""


class PluginError(HostError):
    """The plugin trapped, ran out of fuel or memory, or broke the contract."""


class RefusedRequest(PluginError):
    """The plugin asked for a request the host will not send (e.g. outside the origin)."""


class TransportError(HostError):
    """The request could not be delivered or its response not read."""


class ListingFailed(HostError):
    """A listing ended with the plugin's ``failure`` (a Variant); the pages before stand."""

    def __init__(self, failure: Variant):
        detail = failure.payload
        if failure.tag == "rate-limited":
            detail = field(detail, "detail")
        super().__init__(f"listing failed ({failure.tag}): {field(detail, 'message')}")
        self.failure = failure


class LoginFailed(HostError):
    """The plugin answered ``failed(failure)`` to a login; ``failure`` is the Variant."""

    def __init__(self, failure: Variant):
        detail = failure.payload
        if failure.tag == "rate-limited":
            detail = field(detail, "detail")
        super().__init__(f"login failed ({failure.tag}): {field(detail, 'message')}")
        self.failure = failure


# --------------------------------------------------------------------------------------
# Loading and calling a plugin
# --------------------------------------------------------------------------------------


def make_engine() -> wasmtime.Engine:
    """An engine that counts fuel, so a runaway plugin is stopped."""
    config = wasmtime.Config()
    config.consume_fuel = True
    return wasmtime.Engine(config)


class Plugin:
    """A compiled plugin file. Compiling takes a few hundred milliseconds; do it once and
    instantiate per operation (instantiating is cheap, and a fresh instance per operation
    guarantees the plugin keeps nothing between operations, as the contract requires)."""

    def __init__(self, path: str | os.PathLike, engine: Optional[wasmtime.Engine] = None):
        self.path = os.fspath(path)
        self.engine = engine or make_engine()
        self.component = Component.from_file(self.engine, self.path)
        exports = self.component.type.exports(self.engine)
        names = [name for name in exports if name.startswith(INTERFACE_PREFIX)]
        if len(names) != 1:
            raise PluginError(
                f"{self.path} exports {sorted(exports)}, not one {INTERFACE_PREFIX}* interface"
            )
        self.interface = names[0]
        # The plugin imports WASI interfaces (its standard library pulls them in) but must
        # be given no capability: an empty WasiConfig has no files, env, args or network.
        self.linker = Linker(self.engine)
        self.linker.add_wasip2()
        instance = self.instantiate()
        #: The plugin's ``plugin-info`` record: ``vendor``, ``display-name``, ``version``,
        #: ``contract``, ``url-hint``, ``actions`` and ``config``.
        self.info: Record = instance.describe()

    @property
    def vendor(self) -> str:
        return self.info.vendor

    def instantiate(self) -> "PluginInstance":
        """A fresh instance in its own store, with the memory cap."""
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasmtime.WasiConfig())
        store.set_limits(memory_size=MEMORY_BYTES)
        store.set_fuel(FUEL_PER_CALL)  # instantiating runs the component's start code too
        try:
            instance = self.linker.instantiate(store, self.component)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as err:
            raise PluginError(f"{self}: cannot instantiate: {err}") from err
        return PluginInstance(self, store, instance)

    def __str__(self) -> str:
        return f"plugin {self.path}"


class PluginInstance:
    """One instance of a plugin; its methods are the WIT functions, with Python values."""

    def __init__(self, plugin: Plugin, store: wasmtime.Store, instance: Any):
        self.plugin = plugin
        self._store = store
        iface = instance.get_export_index(store, plugin.interface)
        self._funcs = {}
        for name in ("describe", "begin-login", "resume-login", "begin-action", "resume-action"):
            index = instance.get_export_index(store, name, iface)
            func = instance.get_func(store, index) if index is not None else None
            if func is None:
                raise PluginError(f"{plugin} does not export {plugin.interface}#{name}")
            self._funcs[name] = func

    def _call(self, name: str, *args: Any) -> Any:
        func = self._funcs[name]
        self._store.set_fuel(FUEL_PER_CALL)
        try:
            result = func(self._store, *args)
            # Lets the component free what it allocated for the result (already copied into
            # Python). Documented as required after each call; wasmtime-py 50 (C API 43+)
            # does it inside the call and keeps post_return as a no-op, which is harmless.
            func.post_return(self._store)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as err:  # traps, fuel, memory
            raise PluginError(f"{self.plugin}: {name} failed: {err}") from err
        return result

    def describe(self) -> Record:
        return self._call("describe")

    def begin_login(self, ctx: Record) -> Variant:
        return self._call("begin-login", ctx)

    def resume_login(self, ctx: Record, state: bytes, response: Record) -> Variant:
        return self._call("resume-login", ctx, state, response)

    def begin_action(self, ctx: Record, session: Record, request: Record) -> Variant:
        return self._call("begin-action", ctx, session, request)

    def resume_action(self, ctx: Record, session: Record, state: bytes, response: Record) -> Variant:
        return self._call("resume-action", ctx, session, state, response)


# --------------------------------------------------------------------------------------
# HTTP with urllib
# --------------------------------------------------------------------------------------


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL, with the default port filled in.
    Raises ``ValueError`` for anything else, and for URLs whose host urllib would read
    differently from ``urlsplit`` (user info, percent-encoded or odd characters)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username is not None or urllib.request.Request(url).host != parts.netloc:
        raise ValueError(f"{url!r} has a host part this host does not accept")
    port = parts.port  # raises ValueError on a bad port
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port


def _same_origin(url: str, other: str) -> bool:
    try:
        return origin_of(url) == origin_of(other)
    except ValueError:
        return False


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the origin it started in; any other redirect is
    handed back to the plugin as the 3xx response it is."""

    max_redirections = 5

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        if not _same_origin(newurl, req.full_url):
            return None  # urllib then raises HTTPError for the 3xx, which send() returns
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HttpSender:
    """Performs a plugin's ``http-request`` records with urllib, within one origin."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        proxies: Optional[Mapping[str, str]] = None,
    ):
        """``proxies``: ``None`` uses the environment's ``*_proxy`` variables (as tenantctl
        does); ``{}`` sends every request directly."""
        self.origin = origin_of(base_url)
        self.timeout = timeout
        handlers: list[Any] = [_SameOriginRedirects()]
        if proxies is not None:
            handlers.append(urllib.request.ProxyHandler(dict(proxies)))
        self._opener = urllib.request.build_opener(*handlers)
        self._opener.addheaders = [("User-Agent", "tenantctl-python-example/0.1")]

    def check(self, request: Record) -> None:
        """Raises :class:`RefusedRequest` unless the request may be sent."""
        try:
            origin = origin_of(request.url)
        except ValueError as err:
            raise RefusedRequest(f"the plugin asked for an invalid URL: {err}") from None
        if origin != self.origin:
            raise RefusedRequest(
                "the plugin asked to send a request to %s://%s:%d, outside the configured "
                "origin %s://%s:%d; refused" % (origin + self.origin)
            )
        if len(request.body) > MAX_REQUEST_BYTES:
            raise RefusedRequest(f"the plugin asked to send a {len(request.body)} byte body")

    def send(self, request: Record) -> Record:
        """Sends an ``http-request`` and returns the ``http-response`` record, whatever its
        status: a 4xx or 5xx is an answer for the plugin to read, not an exception."""
        self.check(request)
        method = request.method.upper()  # the WIT enum: "get", "post", ...
        body = bytes(request.body)
        # urllib sends no body for data=None. With data it adds Content-Length, and a
        # Content-Type of application/x-www-form-urlencoded unless the plugin set one.
        data = body if body or method in ("POST", "PUT", "PATCH") else None
        req = urllib.request.Request(request.url, data=data, method=method)
        for header in request.headers:
            # urllib keeps one value per name (case-insensitively) and sends the name as
            # str.capitalize() spells it ("Content-type"); HTTP names are case-insensitive.
            req.add_header(header.name, header.value)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return _response(resp.status, resp.headers, resp.read(MAX_RESPONSE_BYTES))
        except urllib.error.HTTPError as err:  # 4xx, 5xx, and redirects not followed
            try:
                payload = err.read(MAX_RESPONSE_BYTES)
            except (OSError, http.client.HTTPException) as read_err:
                raise TransportError(f"{method} {request.url}: {read_err}") from read_err
            finally:
                err.close()
            return _response(err.code, err.headers, payload)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            raise TransportError(f"{method} {request.url}: {err}") from err


def _response(status: int, headers: Any, body: bytes) -> Record:
    """An ``http-response`` record: ``status`` (u16), ``headers`` (``header`` records, in
    the order received, duplicates kept) and ``body`` (bytes: not bytearray)."""
    if not 0 <= status <= 0xFFFF:
        raise TransportError(f"impossible HTTP status {status}")
    return record(
        {
            "status": status,
            "headers": [
                record({"name": name, "value": value, "secret": False})
                for name, value in headers.items()
            ],
            "body": bytes(body),
        }
    )


# --------------------------------------------------------------------------------------
# An account: the step loops
# --------------------------------------------------------------------------------------


class Account:
    """One vendor account: a plugin, a base URL, configuration values and a session.

    ``config`` maps the field names ``describe()`` declares (``client-id``) to values.
    """

    def __init__(
        self,
        plugin: Plugin,
        base_url: str,
        config: Mapping[str, str],
        *,
        timeout: float = 30.0,
        proxies: Optional[Mapping[str, str]] = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """``sleep`` is how the host waits when a plugin polls the vendor (``wait-ms``)."""
        self.plugin = plugin
        self.base_url = base_url
        self.config = dict(config)
        self.http = HttpSender(base_url, timeout=timeout, proxies=proxies)
        self.clock = clock
        self.sleep = sleep
        self.session: Optional[Record] = None
        #: Logins performed, and requests sent, by this account.
        self.logins = 0
        self.requests = 0

    def _context(self) -> Record:
        return context(self.base_url, self.config, self.clock())

    def _exchange(self, outgoing: Record, steps: int, login: bool, waited: list[float]) -> Record:
        """Checks a ``send`` step against the contract, waits as long as it asks (adding
        to ``waited[0]``, the operation's total), then sends its request."""
        request = outgoing.request
        if steps > MAX_STEPS:
            raise PluginError(f"{self.plugin} made more than {MAX_STEPS} requests in one operation")
        if login and request.effect != "read":
            raise PluginError(f"{self.plugin} asked to send a write while logging in; refused")
        if request.effect != "read" and outgoing.intent is None:
            raise PluginError(f"{self.plugin} asked to send a write without declaring its intent")
        wait = (field(outgoing, "wait-ms") or 0) / 1000
        if wait:
            waited[0] += wait
            if waited[0] > MAX_WAIT_SECS:
                raise PluginError(f"{self.plugin} waited more than {MAX_WAIT_SECS} s in one operation")
            self.sleep(wait)
        response = self.http.send(request)
        self.requests += 1
        return response

    def login(self) -> Record:
        """Logs in and returns the ``session`` record (``token``, ``expires-at``, ``data``).
        Raises :class:`LoginFailed` with the plugin's ``failure`` when it is refused."""
        self.logins += 1
        ctx = self._context()
        plugin = self.plugin.instantiate()
        step = plugin.begin_login(ctx)  # a login-step: Variant("send"|"done"|"failed", ...)
        steps = 0
        while True:
            if step.tag == "done":
                return step.payload
            if step.tag == "failed":
                raise LoginFailed(step.payload)
            outgoing = step.payload  # tag "send": an `outgoing` record
            steps += 1
            response = self._exchange(outgoing, steps, login=True, waited=[0.0])
            step = plugin.resume_login(ctx, outgoing.state, response)

    def _current_session(self) -> Record:
        """The session, logging in when there is none or it is about to expire."""
        session = self.session
        expires_at = None if session is None else field(session, "expires-at")
        if session is None or (
            expires_at is not None and expires_at <= self.clock() + RENEW_MARGIN_SECS
        ):
            session = self.session = self.login()
        return session

    def _steps(self, session: Record, request: Record) -> Iterator[Any]:
        """Drives one action: yields each ``page`` record of a listing, then the
        ``outcome`` record it ends with (a listing's last page ends it without one)."""
        ctx = self._context()
        plugin = self.plugin.instantiate()
        step = plugin.begin_action(ctx, session, request)  # an action-step Variant
        steps, waited = 0, [0.0]
        while step.tag in ("send", "page"):
            outgoing = step.payload
            if step.tag == "page":  # a `page` record: tenants, and the next request
                yield step.payload
                if step.payload.next is None:
                    return
                outgoing, steps = step.payload.next, 0
            steps += 1
            response = self._exchange(outgoing, steps, login=False, waited=waited)
            step = plugin.resume_action(ctx, session, outgoing.state, response)
        yield step.payload  # tag "done": the `outcome` record

    def _attempt(self, session: Record, request: Record) -> Record:
        for item in self._steps(session, request):
            if hasattr(item, "tenants"):
                raise PluginError(f"{self.plugin} emitted a listing page for {request.action}")
            return item
        raise PluginError(f"{self.plugin} ended {request.action} without an outcome")

    def tenants(self) -> Iterator[Record]:
        """Lists every tenant the account can act on: yields ``listed-tenant`` records
        (``id``, ``name``, ``enabled``: bool, or None when the vendor does not say) page by
        page as the plugin emits them, so memory does not grow with the listing. A session
        refused before the first page is renewed once; any other failure raises
        :class:`ListingFailed` after the tenants already yielded."""
        if "list" not in {a.action for a in self.plugin.info.actions}:
            raise ListingFailed(Variant("unsupported", error_detail(f"{self.plugin.vendor} cannot list tenants")))
        request = action_request("list", None)
        for attempt in (1, 2):
            try:
                session = self._current_session()
            except LoginFailed as err:
                raise ListingFailed(err.failure) from None
            pages = 0
            for item in self._steps(session, request):
                if hasattr(item, "tenants"):
                    pages += 1
                    yield from item.tenants
                    continue
                error = item.error
                if error is None:
                    raise PluginError(f"{self.plugin} ended a listing without its last page")
                if error.tag == "session-expired" and pages == 0 and attempt == 1:
                    self.session = None
                    break
                raise ListingFailed(error)
            else:
                return

    def run(self, action: str, tenant: Variant) -> Record:
        """Runs ``action`` (``"status"``, ``"disable"``, ...) on ``tenant`` (a
        ``tenant-selector`` Variant) and returns the ``outcome`` record:

        ``tenant`` (``tenant-ref`` record or None), ``enabled-before`` / ``enabled-after``
        (bool or None), ``changed`` (bool), ``error`` (a ``failure`` Variant or None),
        ``notes`` (list of str).

        A failure the plugin reports, including a refused login, comes back in
        ``error``; :class:`HostError` is raised only when the host itself could not go on
        (transport failure, broken contract)."""
        request = action_request(action, tenant)
        offered = {a.action for a in self.plugin.info.actions}
        if action not in offered:
            return _failed_outcome(
                Variant("unsupported", error_detail(f"{self.plugin.vendor} does not support {action}"))
            )
        renewed = False
        while True:
            try:
                session = self._current_session()
            except LoginFailed as err:
                return _failed_outcome(err.failure)
            outcome = self._attempt(session, request)
            error = outcome.error  # option<failure>: None or a Variant
            if error is None or error.tag != "session-expired":
                return outcome
            if renewed:
                # A freshly renewed session refused too: the contract says that is `auth`.
                detail = error.payload
                message = f"a freshly renewed session was refused: {detail.message}"
                outcome.error = Variant(
                    "auth", error_detail(message, field(detail, "http-status"), field(detail, "vendor-code"))
                )
                return outcome
            renewed = True
            self.session = None  # log in again once, then start the action over


def _failed_outcome(failure: Variant) -> Record:
    """An ``outcome`` record for an operation that failed before the plugin ran it."""
    return record(
        {
            "tenant": None,
            "enabled-before": None,
            "enabled-after": None,
            "changed": False,
            "error": failure,
            "notes": [],
        }
    )


# --------------------------------------------------------------------------------------
# Configuration from the environment, as the tenantctl CLI reads it
# --------------------------------------------------------------------------------------


def env_name(vendor: str, name: str) -> str:
    """``TENANTCTL_<VENDOR>_<NAME>``, upper-cased, ``-`` as ``_``."""
    return f"TENANTCTL_{vendor}_{name}".upper().replace("-", "_")


def config_from_env(
    info: Record, environ: Mapping[str, str] = os.environ, vendor: Optional[str] = None
) -> tuple[str, dict[str, str]]:
    """The base URL and configuration values for a plugin, from ``TENANTCTL_<VENDOR>_URL``
    and ``TENANTCTL_<VENDOR>_<FIELD>`` for each field ``describe()`` declares. Raises
    ``KeyError`` naming the variable when the URL or a required field is missing."""
    vendor = vendor or info.vendor
    url_var = env_name(vendor, "url")
    if not environ.get(url_var):
        raise KeyError(f"{url_var} is not set (e.g. {field(info, 'url-hint')})")
    config = {}
    for f in info.config:
        value = environ.get(env_name(vendor, f.name))
        if value:
            config[f.name] = value
        elif f.required:
            raise KeyError(f"{env_name(vendor, f.name)} is not set: {f.description}")
    return environ[url_var], config
