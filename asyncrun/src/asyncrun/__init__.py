"""asyncrun: Lambda's asynchronous invocation, run locally from a SAM template.

The packages are layers; each imports only from those listed before it
(tests/runner/front/test_layers.py holds them to it):

    errors     the one error tree: what the user asked wrongly, and the Lambda service's errors
    stack/     the resolved stack: the model, one resolver for function references, template
               reading (parameters, the SAM transform, names, the builder), samconfig,
               intrinsics, the endpoint and provisioning
    service/   the Lambda service: the engine (queue, attempts, retries, records), invoke
               configs, limits, destinations, S3 notifications, faults, metrics, the trace,
               clocks and the executor protocol
    runtimes/  where a function's code runs: execution environments (a process each, pooled
               per function version), in-process, sam local containers; the context
    api/       the Lambda API over the engine, and `asyncrun serve`
    cli/       the command line: options, a run, one module per command, the report

Reading order: docs/async-semantics.md (the rules), stack/model.py, stack/resolve.py,
service/engine.py (with service/records.py and service/destinations.py), service/executor.py
and runtimes/inprocess.py, then api/lambda_api.py and cli/main.py."""
