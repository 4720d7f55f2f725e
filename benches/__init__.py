"""Benchmarks: vapi_fast against the libraries a Python voice stack uses today (audioop, soxr, numpy).

A package so that ``benches/conftest.py`` is ``benches.conftest`` and does not clash with ``tests/conftest.py``
when pytest or mypy look at both directories in one run.
"""
