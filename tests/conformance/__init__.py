"""Checks against real engines; run by `make conformance`, never by `make test`."""
