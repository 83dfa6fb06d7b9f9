"""Prometheus metrics and /healthz for the daemon (prometheus-client).

One registry per daemon, so that tests (and two daemons in one process) do not
share counters. ``serve()`` answers ``/metrics`` and ``/healthz`` on a port.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from .webserver import WebServer


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter("feeds_runs", "Feed runs by outcome", ["status", "method", "trigger"], registry=self.registry)
        self.duration = Histogram(
            "feeds_run_duration_seconds", "Time a feed run took", ["method"], registry=self.registry,
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, float("inf")),
        )
        self.rows = Gauge("feeds_rows", "Rows in the feed's last file", ["feed_id"], registry=self.registry)
        self.bytes = Gauge("feeds_bytes", "Bytes in the feed's last file", ["feed_id"], registry=self.registry)
        self.last_success = Gauge("feeds_last_success_timestamp_seconds", "When the feed was last delivered",
                                  ["feed_id"], registry=self.registry)
        self.hub_requests = Counter("feeds_hub_requests", "Requests sent to Hub", ["method", "endpoint", "status"],
                                    registry=self.registry)
        self.wakes = Counter("feeds_wakes", "Daemon wake-ups", registry=self.registry)
        self.catalogue_reads = Counter("feeds_catalogue_reads", "Catalogue reads from Hub", ["outcome"],
                                       registry=self.registry)
        self.in_progress = Gauge("feeds_work_in_progress", "Organisations' slot work this daemon is doing now "
                                 "(SPEC §14)", registry=self.registry)
        self.last_wake = Gauge("feeds_last_wake_timestamp_seconds", "When the daemon last woke", registry=self.registry)
        self.changes = Gauge("feeds_changes", "The last file's changes beside the delivery before it (SPEC §12)",
                             ["feed_id", "kind"], registry=self.registry)
        self.work = Counter("feeds_organisation_work", "Organisations' slot work this daemon took (SPEC §14)",
                            ["outcome"], registry=self.registry)
        self.queue_depth = Gauge("feeds_queue_depth", "Organisations' work waiting to be taken (the fleet's, "
                                 "or this daemon's)", registry=self.registry)
        self.daemons = Gauge("feeds_daemons_alive", "Daemons of the fleet with a recent heartbeat",
                             registry=self.registry)

    def hub_request(self, method: str, path: str, status: int | None) -> None:
        endpoint = path
        parts = path.strip("/").split("/")
        if len(parts) > 1 and parts[1].isdigit():
            endpoint = f"/{parts[0]}/{{id}}"
        self.hub_requests.labels(method, endpoint, str(status) if status else "error").inc()

    def restore(self, delivered: dict[int, Any], first_seen: dict[int, Any]) -> None:
        """Each known feed's last success from the ledger, so that a restart (or another daemon's delivery)
        forgets nothing: the newest delivered run's end, or, for a feed never delivered, when it was first
        seen, so that "not delivered for 25 hours" fires for it too."""
        from datetime import datetime

        for feed_id in set(first_seen) | set(delivered):
            run = delivered.get(feed_id)
            label = str(feed_id)
            when = datetime.fromisoformat(run.ended_at.replace("Z", "+00:00")) if run and run.ended_at else None
            when = when or first_seen.get(feed_id)
            if when is not None:
                self.last_success.labels(label).set(when.timestamp())
            if run is not None:
                self.rows.labels(label).set(run.rows or 0)
                self.bytes.labels(label).set(run.bytes or 0)

    def work_finished(self, result: Any) -> None:
        """A piece of organisation work done, in this daemon or one of its worker processes."""
        self.work.labels("handed back" if result.remaining else "done").inc()
        if result.catalogue:
            self.catalogue_reads.labels(result.catalogue).inc()
        for (method, endpoint, status), count in result.hub_requests.items():
            self.hub_requests.labels(method, endpoint, status).inc(count)
        for outcome in result.runs:
            self.run_finished(outcome.result)

    def run_finished(self, result: Any) -> None:
        method = result.method or "unknown"
        self.runs.labels(result.status, method, result.trigger).inc()
        self.duration.labels(method).observe(result.seconds)
        fid = str(result.feed_id)
        if result.status == "delivered":
            self.rows.labels(fid).set(result.rows)
            self.bytes.labels(fid).set(result.bytes)
            self.last_success.labels(fid).set(time.time())
        if result.changes is not None and result.status in ("delivered", "held"):
            for kind, value in result.changes.to_json().items():
                if kind != "rows" and value is not None:
                    self.changes.labels(fid, kind).set(value)


def serve(metrics: Metrics, health: Callable[[], tuple[bool, dict[str, Any]]], host: str, port: int,
          pages: Any = None, guard: Callable[[Any], Any] = lambda app: app, **server_options: Any) -> WebServer:
    """Serve /metrics, /healthz and the status pages from a background thread; return the server.

    ``guard`` wraps the whole application (the status page's token rule);
    ``server_options`` go to ``WebServer`` (timeouts, limits, a trusted proxy).
    """
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            ok, detail = health()
            body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/metrics" or pages is None:
            return prometheus(environ, start_response)
        return pages(environ, start_response)

    return WebServer(guard(app), host, port, **server_options)
