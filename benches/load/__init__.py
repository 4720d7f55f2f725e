"""Load benchmark: many concurrent calls at real-time pace against the mock Vapi in a second process.

``python -m benches.load.harness`` runs one configuration, ``python -m benches.load.sweep`` the comparison table;
``test_load_smoke.py`` runs each variant briefly under ``pytest benches --benchmark-disable``.
"""
