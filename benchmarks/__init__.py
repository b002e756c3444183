"""Benchmarks of licelpush (issue 6): ``python -m benchmarks`` from the repo root.

Modules: :mod:`benchmarks.configs` (the ``small``, ``typical``, ``phm`` and
``eight`` configurations), :mod:`benchmarks.pipeline` (in-process frame +
validate + decode + record encoding), :mod:`benchmarks.end_to_end` (emulator ->
``licelpush acquire`` over loopback, plus a sequential write + fsync of the
same volume), :mod:`benchmarks.steady_state` (resident memory after 1k and
100k frames) and :mod:`benchmarks.idle` (CPU % of ``acquire`` at station load).
Results are plain dicts (JSON-ready); :mod:`benchmarks.__main__` prints them
as a table and writes them to a JSON file.
"""
