"""The command line: options, a run, one module per command, the report. Nothing
but `asyncrun.__main__` imports it."""
