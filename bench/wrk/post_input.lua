-- POST /input with {"prompt":"hello"} on every request.
wrk.method = "POST"
wrk.body = '{"prompt":"hello"}'
wrk.headers["Content-Type"] = "application/json"
