"""The `autodata` commands, one family per module; `autodata.cli` registers them on its app.

Each module has `register(app)` and imports `autodata.commands.support` (console, exit codes, error handling,
progress), never `autodata.cli` or another command module.
"""
