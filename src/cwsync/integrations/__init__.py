"""Integrations written on the engine contract (`cwsync.engine.pair`): each is its shapes, defaults and adapters."""
