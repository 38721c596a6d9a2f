"""The Lambda API over the engine (api.lambda_api), the HTTP server that answers it
beside moto (api.serve), and that server as a child process (api.serve_process)."""
