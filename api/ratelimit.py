"""Per-key rate limits on the heavy routes (strategies, studies, chat): 429 with Retry-After.

The counters are the ``limits`` library's moving window, kept where
``Settings.rate_limit_storage_url`` says (``memory://``: per process; ``redis://...``: shared by
every worker and replica). The key is the principal's subject (API key id or JWT subject); requests
without credentials (anonymous role, auth off) are counted per client address. Routes declare the
limit with the ``HeavyPlanner`` parameter type, which also requires the planner role. With auth
off (loopback only, one local user) nothing is limited: the simulator queue's 503 still bounds load.
"""
from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from api.auth import Planner, Principal

#: Name of the limit's bucket (one shared budget for every heavy route).
HEAVY_BUCKET = "heavy"


class RateLimiter:
    """One rate (``"30/minute"``) per identity, or no limit when ``rate`` is empty."""

    def __init__(self, rate: str, storage_url: str = "memory://"):
        from limits import parse, storage, strategies

        self.rate = parse(rate) if rate else None
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_url)) \
            if self.rate is not None else None

    @classmethod
    def from_settings(cls, settings: Any) -> "RateLimiter":
        return cls(settings.rate_limit_heavy, settings.rate_limit_storage_url)

    def hit(self, identity: str, bucket: str = HEAVY_BUCKET) -> int | None:
        """Count one request; None when allowed, else the seconds until the next one is."""
        if self._limiter is None:
            return None
        if self._limiter.hit(self.rate, bucket, identity):
            return None
        stats = self._limiter.get_window_stats(self.rate, bucket, identity)
        return max(1, math.ceil(stats.reset_time - time.time()))


def identity(principal: Principal, request: Request) -> str:
    """Whose budget a request spends: the key/subject, or the client address without credentials."""
    if principal.via in ("key", "jwt"):
        return f"{principal.site}/{principal.subject}"
    client = request.client.host if request.client else "unknown"
    return f"{principal.via}/{client}"


def heavy_rate_limit(request: Request, principal: Planner) -> Principal:
    """The planner principal of a heavy route, after spending one request of its budget (or 429)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None and principal.via != "auth-off":  # auth off: the one local user on loopback
        retry_after = limiter.hit(identity(principal, request))
        if retry_after is not None:
            metrics = getattr(request.app.state, "metrics", None)
            if metrics is not None and hasattr(metrics, "rate_limited"):
                metrics.rate_limited.inc()
            raise HTTPException(status_code=429, headers={"Retry-After": str(retry_after)},
                                detail=f"rate limit {limiter.rate} reached for this key; retry in {retry_after} s")
    return principal


#: A heavy route's principal: needs planner, counted against the key's rate limit.
HeavyPlanner = Annotated[Principal, Depends(heavy_rate_limit)]
