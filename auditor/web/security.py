"""What keeps the reviewer's workspace safe: sessions, CSRF tokens, the login throttle, headers.

- Session: Starlette's signed cookie (itsdangerous), ``HttpOnly``, ``SameSite=Strict``, ``Secure``
  when served over TLS; the signing secret is drawn at start-up (a restart logs everyone out). It
  holds the user name and the CSRF token; the user's role is read from the registry on every
  request, so a removed account or a changed role takes effect at once.
- CSRF: one random token per session, in a hidden field ``csrf_token`` of every form (the login
  form included); a POST without it, or with another, is refused with 403. The token is renewed at
  login (no session fixation).
- Login throttle: at most :data:`MAX_FAILURES` failed logins per user name and
  :data:`MAX_ADDRESS_FAILURES` per client address within :data:`WINDOW_S` seconds; then every login
  attempt of that name, or from that address (even a right one), is refused with 429 until the
  oldest failure leaves the window. The address's limit is higher: behind a reverse proxy every
  user shares one address, and five wrong passwords of one user locked every user out.
- Headers: our pages forbid everything but our own stylesheet and forms posting to us; the run's
  report.html is served with the report's own Content-Security-Policy.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque

from starlette.requests import Request

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 50  # many names guessed from one address (password spraying)
WINDOW_S = 15 * 60
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    # compare_digest raises TypeError on a str with a non-ASCII character (a 500): a token is ASCII, so such a one is wrong
    return bool(expected) and isinstance(submitted, str) and submitted.isascii() and secrets.compare_digest(expected, submitted)


class LoginThrottle:
    """Failed logins per key (``addr:`` a client address, ``user:`` a user name) in a sliding
    window, an address allowed ``max_address_failures``, any other key ``max_failures``. Thread-safe."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, clock=time.monotonic,
                 max_address_failures: int = MAX_ADDRESS_FAILURES):
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self.max_address_failures = max_address_failures
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        q = self._failures[key]
        now = self.clock()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> int:
        """Seconds until a login may be tried again (0: now)."""
        with self._lock:
            waits = [self._recent(k)[0] + self.window_s - self.clock() for k in keys
                     if len(self._recent(k)) >= self._limit(k)]
        return max(1, int(max(waits)) + 1) if waits else 0

    def _limit(self, key: str) -> int:
        return self.max_address_failures if key.startswith("addr:") else self.max_failures

    def failed(self, *keys: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # names tried once and long ago: forget them
                for k in [k for k in self._failures if not self._recent(k)]:
                    del self._failures[k]
            for k in keys:
                self._recent(k).append(self.clock())

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._failures.pop(name_key, None)
