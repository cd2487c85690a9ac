-- wrk script: one short, non-streamed generate per request.
-- The mesh credential comes from the environment (empty: no header).
wrk.method = "POST"
wrk.body   = '{"model":"llama3.2","prompt":"hi","stream":false,' ..
             '"options":{"num_predict":1}}'
wrk.headers["Content-Type"] = "application/json"
local secret = os.getenv("BENCH_SECRET")
if secret and secret ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. secret
end
