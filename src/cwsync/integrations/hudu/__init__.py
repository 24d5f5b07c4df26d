"""ConnectWise → Hudu IT documentation sync (HU-1 … HU-6): config, matching, planning, the runner.

The package root imports nothing so that `cwsync.config.model` can import `config` without a cycle.
"""
