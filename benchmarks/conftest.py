"""Benchmarks share the tests' helpers (oracle) on sys.path."""

from __future__ import annotations


