-- wrk script: one short, non-streamed generate per request.
-- BENCH_TOKENS: a file of task tokens, one per line, each accepted once
-- by the agent (bench.pl signs them ahead); empty or unset: no header.
wrk.method = "POST"
wrk.body   = '{"model":"llama3.2","prompt":"hi","stream":false,' ..
             '"options":{"num_predict":1}}'
wrk.headers["Content-Type"] = "application/json"
local tokens = {}
local file = os.getenv("BENCH_TOKENS")
if file and file ~= "" then
    for line in io.lines(file) do
        tokens[#tokens + 1] = line
    end
end
local n = 0

request = function()
    if #tokens > 0 then
        n = n + 1
        wrk.headers["Authorization"] = tokens[(n - 1) % #tokens + 1]
    end
    return wrk.format()
end
