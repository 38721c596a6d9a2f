"""The Lambda API over the engine (api.lambda_api), and the HTTP server that
answers it beside moto (api.serve)."""
