"""Kasa Care benchmarks (`make bench`): each figure measured against the raw cost of the same
work in the same run, on SQLite and on PostgreSQL. Not part of the test suite: speed lives here
and in docs/benchmarks.md, never in timed assertions."""
