"""A Licel Ethernet controller emulator on loopback (``licelpush emulate``).

Spec: PROTOCOL.md; usage in docs/EMULATOR.md. Modules:

- :mod:`.assumptions` — defaults and the assumed hardware behaviour, in one place;
- :mod:`.model` — the pure controller: recorders, shot clock, answers, push sessions;
- :mod:`.signals` — plausible lidar signals as accumulated raw counts;
- :mod:`.faults` — fault options, schedule and byte damage;
- :mod:`.ledger` — the JSON Lines ledger;
- :mod:`.server` — the asyncio network edge (command, push and kill ports).

Tests run it in-process with :mod:`licelpush.testing`. This package module
imports nothing, so ``licelpush --help`` stays fast.
"""
