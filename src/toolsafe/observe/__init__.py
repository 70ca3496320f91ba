"""Observability: events, logging, recording, tracing, metrics."""
