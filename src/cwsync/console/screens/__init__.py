"""The console's screens: every module here is imported by `cwsync.console.app` and its `router` included."""
