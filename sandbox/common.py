"""What every vendor sandbox shares: injected faults, call counting and rate-limit windows."""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class FaultRule(BaseModel):
    """One kind of trouble to inject into a vendor's answers.

    ``drop`` closes the connection in the middle of the answer. With ``after_commit`` the vendor
    first does the work (the record is created) and only the answer is lost, which is the case
    that tempts a client into creating a duplicate.
    """

    status: Literal[429, 500, 502, 503] | None = None
    drop: bool = False
    after_commit: bool = False
    delay_seconds: float = Field(default=0, ge=0, le=120)
    retry_after: int | None = Field(default=None, ge=0, le=3600)
    method: str | None = None
    path_pattern: str | None = None
    probability: float = Field(default=1.0, ge=0, le=1)
    times: int | None = Field(default=None, ge=1, description="stop after this many hits")
    seed: int | None = None


@dataclass
class _ActiveRule:
    rule: FaultRule
    pattern: re.Pattern[str] | None
    rng: random.Random
    remaining: int | None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining == 0:
            return False
        if self.rule.method and self.rule.method.upper() != method:
            return False
        if self.pattern and not self.pattern.search(path):
            return False
        if self.rng.random() >= self.rule.probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class VendorTraffic:
    """Faults to inject and calls seen for one vendor sandbox."""

    rules: list[_ActiveRule] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    played: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_fault(self, rule: FaultRule) -> None:
        pattern = re.compile(rule.path_pattern) if rule.path_pattern else None
        with self.lock:
            self.rules.append(_ActiveRule(rule, pattern, random.Random(rule.seed), rule.times))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.calls.clear()
            self.played.clear()

    def fault_for(self, method: str, path: str) -> FaultRule | None:
        with self.lock:
            self.calls[f"{method} {path}"] += 1
            for active in self.rules:
                if active.matches(method, path):
                    rule = active.rule
                    self.played[f"{rule.status or ''}{' drop' if rule.drop else ''}{' after commit' if rule.after_commit else ''}".strip()] += 1
                    return rule
        return None


class FaultMiddleware:
    """ASGI middleware that counts calls and plays the configured faults on a vendor app."""

    def __init__(self, app: ASGIApp, traffic: VendorTraffic):
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.traffic.fault_for(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.delay_seconds:
            await asyncio.sleep(rule.delay_seconds)
        if rule.after_commit:
            await self.app(scope, receive, _discard)
        if rule.drop:
            await _drop_connection(send)
        elif rule.status:
            await _send_error(send, rule)
        elif not rule.after_commit:
            await self.app(scope, receive, send)


async def _discard(_message: Message) -> None:
    return None


async def _drop_connection(send: Send) -> None:
    # Promise a body and break off: the server closes the socket and the client sees a broken read.
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
    await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
    raise ConnectionAbortedError("sandbox fault: connection dropped on purpose")


async def _send_error(send: Send, rule: FaultRule) -> None:
    body = b'{"errors": "sandbox fault: injected %d"}' % rule.status
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if rule.retry_after is not None:
        headers.append((b"retry-after", str(rule.retry_after).encode()))
    await send({"type": "http.response.start", "status": rule.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateWindow:
    """A fixed budget per window (Procore's hourly limit) plus a sliding spike window."""

    def __init__(self, limit: int, window_seconds: float, spike_limit: int, spike_seconds: float):
        self.configure(limit, window_seconds, spike_limit, spike_seconds)

    def configure(self, limit: int, window_seconds: float, spike_limit: int, spike_seconds: float) -> None:
        self.limit, self.window_seconds = limit, window_seconds
        self.spike_limit, self.spike_seconds = spike_limit, spike_seconds
        self._lock = threading.Lock()
        self._window_start: dict[str, float] = {}
        self._used: Counter[str] = Counter()
        self._recent: dict[str, deque[float]] = {}
        self._spent: list[tuple[str, float, int]] = []  # (client, window start, calls admitted) of past windows

    def windows(self) -> list[dict]:
        """Every window so far and the calls it admitted per client, the current one last."""
        with self._lock:
            current = [(client, start, self._used[client]) for client, start in self._window_start.items()]
            return [{"client": client, "start": start, "calls": calls} for client, start, calls in self._spent + current]

    def take(self, client: str) -> tuple[bool, int, int]:
        """Spend one call: (allowed, remaining in the window, epoch second the window resets)."""
        now = time.time()
        with self._lock:
            start = self._window_start.get(client)
            if start is None or now - start >= self.window_seconds:
                if start is not None:
                    self._spent.append((client, start, self._used[client]))
                start = self._window_start[client] = now
                self._used[client] = 0
            reset = math.ceil(start + self.window_seconds)
            recent = self._recent.setdefault(client, deque())
            while recent and now - recent[0] >= self.spike_seconds:
                recent.popleft()
            if self._used[client] >= self.limit:
                return False, 0, reset
            if len(recent) >= self.spike_limit:
                return False, self.limit - self._used[client], math.ceil(recent[0] + self.spike_seconds)
            self._used[client] += 1
            recent.append(now)
            return True, self.limit - self._used[client], reset


DEMO_JOBS = range(2401, 2461)  # the ERP job of each demo project: Procore's project_number 2401 ...


@dataclass(frozen=True)
class DemoSubJob:
    """A sub job of a demo project (Procore) and the ERP's project task, extra or phase it is."""

    procore_code: str
    erp_code: str
    name: str


# The first project of each demo company (with the default three projects a company) has sub jobs, and the ERP
# sandboxes hold their tasks, extras or phases under the same job. The codes match, so they link by themselves,
# except Procore's 03-1, which the ERP writes 03.1: a suggestion that waits for a person. Sage 100 Contractor
# numbers its phases, so the Sage 100 company's project has sub jobs 1 and 2.
DEMO_SUB_JOBS: dict[int, tuple[DemoSubJob, ...]] = {
    job: (DemoSubJob("01", "01", "Podium"), DemoSubJob("02", "02", "Tower"),
          DemoSubJob("03-1", "03.1", "Parking Deck")) for job in (2401, 2404, 2407)
} | {2410: (DemoSubJob("1", "1", "Podium"), DemoSubJob("2", "2", "Tower"))}
