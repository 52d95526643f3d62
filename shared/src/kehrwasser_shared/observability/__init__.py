"""Health endpoints, Prometheus metrics, trace context and log formats of a service process (issue 14).

The runtime (`kehrwasser_shared.runtime.serve`) starts all of it; docs/operations.md, "Health, metrics and
traces", lists the endpoints, settings and metric names.
"""
