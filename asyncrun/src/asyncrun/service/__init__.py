"""The Lambda service: the engine and what it decides with (invoke configs, limits,
records, destinations, S3 notifications, faults, metrics, the trace, clocks), and the
executor protocol the runtimes implement. It never imports a runtime."""
