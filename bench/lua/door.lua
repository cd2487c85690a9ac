-- wrk script: one POST, the same each time, for any door.
-- Env: DOOR_PATH (/api/generate), DOOR_BODY (the JSON body).
wrk.method = "POST"
wrk.path = os.getenv("DOOR_PATH") or "/api/generate"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("DOOR_BODY")
    or '{"model":"mistral:7b","prompt":"why is the sky blue","stream":false}'
