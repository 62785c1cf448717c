"""kombu's Redis transport, made to survive a broker restart with tasks in flight.

With kombu 5.7, when Redis goes away while a worker holds unacknowledged (acks_late) tasks,
the consumer collects the broken connection (the transport's ``client`` becomes None), then
closes its channel again; that close tries to requeue the unacked tasks, builds connection
parameters from the missing client and raises ``AttributeError``, which the consumer does not
treat as a connection error: the worker stops with "Unrecoverable error". Here that case
raises a connection error instead, so the consumer reconnects as it does for any outage. The
tasks are not lost: they stay in Redis' ``unacked`` hash and come back after the visibility
timeout (the completion markers make a second run of a finished one a no-op).

Selected by ``broker_transport = "workers.transport:Transport"`` (the URL stays redis://).
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """A Redis channel whose connection parameters fail as a connection error when closed."""

    def _connparams(self, asynchronous: bool = False) -> Any:
        if getattr(self.connection, "client", None) is None:
            raise redis.ConnectionError("broker connection already released")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]


class Transport(kombu_redis.Transport):
    """The Redis transport with :class:`Channel`."""

    Channel = Channel


__all__ = ["Channel", "Transport"]
