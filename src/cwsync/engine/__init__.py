"""The one engine: what every integration's runs share (run lifecycle, recording, reading, guards) and its page loop.

- `runs`: a run's lifecycle in the store (start, finish, closing runs a killed process left "running").
- `record`: links and run items, built in one place with one projection hash, recorded in one transaction, and the
  journal of intents that makes creates idempotent across lost answers and killed runs.
- `reading`: read-ahead of pages, ConnectWise `lastUpdated`, per-side watermarks capped by the run's start.
- `links`: the links a full read missed and which of their records the source still has (reconciliation).
- `guard`: the mass-delete breaker.
- `loop`: the page loop every pair runs on; `engine`: `Engine.run` over any pairs; `oneway`: the one-way way of a
  page over `pair.Pair`; `twoway`: the two-way way over `twoway.TwoWayPair`.
"""
