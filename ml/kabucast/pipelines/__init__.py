"""Orchestration over injected adapters (store, source, calendar, clock): no maths here."""
