"""The `prospectflow` command-line tool: publish, look, act, operate dead letters, and the demo."""
