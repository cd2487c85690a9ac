-- wrk script: one POST, the same each time, for any door.
-- Env: DOOR_PATH (/api/generate), DOOR_BODY (the JSON body),
-- DOOR_HEADERS (optional "Name: value|Name: value").
wrk.method = "POST"
wrk.path = os.getenv("DOOR_PATH") or "/api/generate"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("DOOR_BODY")
    or '{"model":"mistral:7b","prompt":"why is the sky blue","stream":false}'
for h in (os.getenv("DOOR_HEADERS") or ""):gmatch("[^|]+") do
    local k, v = h:match("^%s*([^:]+):%s*(.*)$")
    if k then
        wrk.headers[k] = v
    end
end
