"""What every vendor hook shares, built on the http provider's ``HttpHook``.

A hook owns its Airflow connection, its auth, one keep-alive session, paging and retries; the
tasks only say what to read or write. One ``RetryPolicy`` decides how often a call is tried and how
long it may wait in all; a sign-in or token fetch needed by a call is one attempt inside that call,
never a retry loop of its own. Retries follow the vendor's own signals: ``Retry-After`` and
rate-limit reset headers are waited out, transport failures are retried only where repeating the
call cannot create a second record (the pipelines guard the other writes themselves). A vendor that
keeps saying it is unavailable ends the call with ``VendorUnavailable``, which fails the task at once.
"""

from __future__ import annotations

import email.utils
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Protocol

import requests
import tenacity
from airflow.providers.http.hooks.http import HttpHook

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
NOT_PROCESSED_STATUSES = frozenset({429, 503})
SERVER_ERRORS = frozenset({500, 502, 504})
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How one logical call is repeated: the only place that decides it, for every vendor hook.

    At most ``attempts`` tries and ``total_wait`` seconds of waiting between them. A wait the vendor
    names (``Retry-After``, a rate window's reset) is honoured when it is at most ``longest_told_wait``;
    a vendor asking for a longer pause is not called again by this call. Other waits back off
    exponentially from ``first_backoff`` seconds, with jitter.
    """

    attempts: int = 4
    longest_told_wait: float = 60
    total_wait: float = 120
    first_backoff: float = 1
    longest_backoff: float = 30

    def backoff(self, state: tenacity.RetryCallState) -> float:
        return tenacity.wait_random_exponential(multiplier=self.first_backoff, max=self.longest_backoff)(state)

    def spent(self, state: tenacity.RetryCallState, told_wait: float | None) -> bool:
        """Whether the call stops here instead of waiting ``state.upcoming_sleep`` and trying again."""
        return (state.attempt_number >= self.attempts
                or (told_wait is not None and told_wait > self.longest_told_wait)
                or state.idle_for + state.upcoming_sleep > self.total_wait)


class VendorUnavailable(Exception):
    """A vendor kept answering that it is unavailable (502/503/504), or asked for a longer pause than
    a call may wait: the run stops and operations are told, instead of hammering it."""

    def __init__(self, vendor: str, response: requests.Response, attempts: int, waited: float):
        told = response.headers.get("Retry-After")
        super().__init__(f"{vendor} is unavailable: {response.request.method} {response.url} answered "
                         f"{response.status_code} {attempts} time(s) over {waited:.0f} s of waiting"
                         + (f" (it asks for a pause of {told} s)" if told else "")
                         + "; the run stops here and is tried again later")
        self.vendor, self.status = vendor, response.status_code


class VendorApiError(Exception):
    """A vendor answered with an error that retrying will not fix."""

    def __init__(self, vendor: str, method: str, url: str, status: int, message: str):
        super().__init__(f"{vendor} {method} {url} answered {status}: {message}")
        self.vendor, self.status, self.message = vendor, status, message

    @property
    def refuses_access(self) -> bool:
        """Credentials or access refused: nothing else the integration asks of this vendor will work either."""
        return self.status in (401, 403)

    @property
    def about_this_call(self) -> bool:
        """A 4xx about what this one call names or carries (not about access): other calls may still work."""
        return 400 <= self.status < 500 and not self.refuses_access


class RetryableResponse(Exception):
    def __init__(self, response: requests.Response):
        super().__init__(f"{response.request.method} {response.url} answered {response.status_code}")
        self.response = response


class BudgetSpent(Exception):
    """The caller's share of the vendor's rate window is spent: stop and resume in a later window."""


@dataclass(frozen=True)
class RateReading:
    """What one answer said about the rate window: its budget, what is left, when it resets (epoch s)."""

    limit: int
    remaining: int
    reset: int
    status: int

    @property
    def spike(self) -> bool:
        """A 429 with budget left: the short spike window refused it, a wait of seconds fixes that."""
        return self.status == 429 and self.remaining > 0


class RateMeter(Protocol):
    """Shares a vendor's rate budget between callers; ``admit`` and ``observe`` may raise ``BudgetSpent``,
    ``settle`` gives back what was admitted ahead and not used (when the hook closes)."""

    def admit(self) -> None: ...

    def observe(self, reading: RateReading) -> None: ...

    def settle(self) -> None: ...


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


NO_AUTH = _no_auth


class BearerToken(requests.auth.AuthBase):
    """An OAuth2 access token fetched on first use and renewed shortly before it expires.

    ``fetch`` returns the new token and its lifetime in seconds; each vendor hook says how it gets one.
    """

    refresh_margin_seconds = 120

    def __init__(self, fetch: Callable[[], tuple[str, float]]):
        self.fetch = fetch
        self.token: str | None = None
        self.expires_at = 0.0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.token is None or time.time() > self.expires_at - self.refresh_margin_seconds:
            self.token, lifetime = self.fetch()
            self.expires_at = time.time() + lifetime
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def forget(self) -> bool:
        self.token = None
        return True


class VendorHook(HttpHook):
    """Base for one vendor's hook. Subclasses set ``vendor`` and may override the hooks below."""

    vendor: ClassVar[str]
    settings_extras: ClassVar[tuple[str, ...]] = ()
    rate_limit_header: ClassVar[str | None] = None
    rate_remaining_header: ClassVar[str | None] = None
    rate_reset_header: ClassVar[str | None] = None
    rate_limit_header: ClassVar[str | None] = None  # the vendor's budget for its window, as it reports it
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy()
    timeout_seconds: ClassVar[float] = 60
    errors_inside_success: ClassVar[bool] = False  # QuickBooks may put a Fault in an HTTP 200

    def __init__(self, conn_id: str, **kwargs: Any):
        super().__init__(method="GET", http_conn_id=conn_id, **kwargs)
        self.calls: Counter[str] = Counter()
        self._session: requests.Session | None = None
        self._paused_until = 0.0
        self.meter: RateMeter | None = None
        self.rate_limit: int | None = None

    @cached_property
    def connection(self):
        return self.get_connection(self.http_conn_id)

    @property
    def extras(self) -> dict[str, Any]:
        return self.connection.extra_dejson

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def session(self) -> requests.Session:
        if self._session is None:
            session = self.get_conn(extra_options={"timeout": self.timeout_seconds})
            for key in self.settings_extras:  # HttpHook turns extras into headers; these are settings
                session.headers.pop(key, None)
            self._session = session
        return self._session

    def close(self) -> None:
        if self.meter is not None:
            self.meter.settle()
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def request(self, method: str, endpoint: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                auth: Any = None, idempotent: bool | None = None) -> requests.Response:
        """One logical call: waits out 429/503, retries failures where repeating is harmless.

        ``idempotent`` overrides what the HTTP method implies: a PUT that creates a record under a
        number the vendor assigns is not safe to repeat, a POST carrying an idempotency key is.
        """
        try:
            return self._request_with_retries(method, endpoint, params, json, data, headers, auth, idempotent)
        except VendorApiError as error:
            if error.status != 401 or not self.reauthenticate():
                raise
            self.log.info("%s answered 401: signed in again, repeating the call once", self.vendor)
            return self._request_with_retries(method, endpoint, params, json, data, headers, auth, idempotent)

    def _request_with_retries(self, method, endpoint, params, json, data, headers, auth, idempotent):
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        retrying = tenacity.Retrying(
            stop=lambda state: self.retry_policy.spent(state, _told_wait(state, self)),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda error: self._retryable(error, safe)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(method.upper(), endpoint, params, json, data, headers, auth)
        except RetryableResponse as error:
            told = self.told_wait(error.response)
            retried = self._retryable(error, safe) and error.response.status_code in UNAVAILABLE_STATUSES
            if retried or (told is not None and told > self.retry_policy.longest_told_wait):
                state = retrying.statistics
                raise VendorUnavailable(self.vendor, error.response, state.get("attempt_number", 1),
                                        state.get("idle_for", 0)) from error
            raise
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def send_once(self, method: str, endpoint: str, *, json: Any = None, data: Any = None,
                  auth: Any = None) -> requests.Response:
        """One attempt, for a step a call needs first (a sign-in, a token): the call's retries repeat it."""
        return self._send(method.upper(), endpoint, None, json, data, None, auth)

    def _send(self, method, endpoint, params, json, data, headers, auth) -> requests.Response:
        url = endpoint if endpoint.startswith(("http://", "https://")) else self.url_from_endpoint(endpoint)
        metered = self.meter is not None and self.metered(url)
        if metered:
            self.meter.admit()
        self._pace()
        session = self.session()
        request = requests.Request(method, url, params=params, json=json, data=data,
                                   headers=self.default_request_headers() | dict(headers or {}), auth=auth)
        prepared = session.prepare_request(request)  # may fetch a token first: a call of its own
        self.calls[method] += 1
        response = self.run_and_check(session, prepared, {"check_response": False, "timeout": self.timeout_seconds})
        self._note_rate_limit(response)
        reading = self.rate_reading(response)
        if metered and reading is not None:
            self.meter.observe(reading)
        if response.status_code in NOT_PROCESSED_STATUSES or response.status_code in SERVER_ERRORS:
            raise RetryableResponse(response)
        problem = self.error_in(response)
        if problem is not None:
            raise VendorApiError(self.vendor, method, url, response.status_code, problem)
        return response

    # Hooks for subclasses -----------------------------------------------------------------
    def check(self) -> dict[str, int]:
        """Prove the connection works with one cheap read; returns counts worth reporting."""
        raise NotImplementedError(f"{type(self).__name__} must say how to check its connection")

    def default_request_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def metered(self, url: str) -> bool:
        """Whether a call to this URL spends the rate budget (sign-ins usually do not)."""
        return True

    def reauthenticate(self) -> bool:
        """Drop an expired or revoked session/token; True if a new one will be used on the next call."""
        return False

    def error_in(self, response: requests.Response) -> str | None:
        """The vendor's error message, or None when the answer is a success."""
        if response.ok and not self.errors_inside_success:
            return None
        try:
            body = response.json()
        except ValueError:
            return None if response.ok else (response.text[:500] or response.reason)
        if not isinstance(body, dict):
            return None if response.ok else str(body)
        return self.error_message(body, response.ok)

    def error_message(self, body: dict[str, Any], ok: bool) -> str | None:
        """The message in a JSON answer: vendors put it in their own places."""
        if ok:
            return None
        return str(body.get("errors") or body.get("error_description") or body.get("message") or body)

    # Retries and pacing -------------------------------------------------------------------
    def _retryable(self, error: BaseException, safe: bool) -> bool:
        if isinstance(error, RetryableResponse):
            return error.response.status_code in NOT_PROCESSED_STATUSES or safe
        if isinstance(error, requests.ConnectTimeout):
            return True
        if isinstance(error, requests.ConnectionError) and _never_sent(error):
            return True
        return safe and isinstance(error, (requests.ConnectionError, requests.Timeout,
                                           requests.exceptions.ChunkedEncodingError))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        told = _told_wait(state, self)
        return told if told is not None else self.retry_policy.backoff(state)

    def told_wait(self, response: requests.Response) -> float | None:
        """The pause the vendor asked for in this answer, if it named one still ahead."""
        told = _retry_after(response) or self._seconds_to_reset(response)
        return told if told is not None and told > 0 else None  # a reset already past (clock skew): backoff

    def _seconds_to_reset(self, response: requests.Response) -> float | None:
        if self.rate_reset_header is None or response.status_code != 429:
            return None
        reset = response.headers.get(self.rate_reset_header)
        return float(reset) - time.time() if reset and reset.isdigit() else None

    def rate_reading(self, response: requests.Response) -> RateReading | None:
        names = (self.rate_limit_header, self.rate_remaining_header, self.rate_reset_header)
        values = [response.headers.get(name) if name else None for name in names]
        if not all(value and value.isdigit() for value in values):
            return None
        limit, remaining, reset = map(int, values)
        return RateReading(limit, remaining, reset, response.status_code)

    def _note_rate_limit(self, response: requests.Response) -> None:
        limit = response.headers.get(self.rate_limit_header) if self.rate_limit_header else None
        if limit and limit.isdigit():
            self.rate_limit = int(limit)
        if not (self.rate_remaining_header and self.rate_reset_header):
            return
        remaining = response.headers.get(self.rate_remaining_header)
        reset = response.headers.get(self.rate_reset_header)
        if remaining == "0" and reset and reset.isdigit():
            self._paused_until = float(reset)

    def _pace(self) -> None:
        """Spent budget: wait for the window to reset instead of collecting a 429."""
        delay = self._paused_until - time.time()
        if delay > 0:
            self.log.info("%s rate budget spent; waiting %.0f s for it to reset", self.vendor, delay)
            time.sleep(min(delay, self.retry_policy.longest_told_wait))
        self._paused_until = 0.0

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        self.log.warning("%s call failed (%s); attempt %d, retrying in %.1f s", self.vendor,
                         state.outcome.exception(), state.attempt_number, state.upcoming_sleep)


def _told_wait(state: tenacity.RetryCallState, hook: VendorHook) -> float | None:
    error = state.outcome.exception() if state.outcome else None
    return hook.told_wait(error.response) if isinstance(error, RetryableResponse) else None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.isdigit():
        return float(value)
    when = email.utils.parsedate_to_datetime(value)
    return (when - datetime.now(UTC)).total_seconds()


def _never_sent(error: requests.ConnectionError) -> bool:
    """A refused or unresolvable connection: the request never reached the vendor."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return "NewConnectionError" in type(reason).__name__ or "NameResolutionError" in type(reason).__name__
