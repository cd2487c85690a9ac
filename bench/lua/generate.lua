-- wrk script: short non-streamed /api/generate requests (Ollama API).
-- Usage: wrk -t1 -c16 -d5s -s bench/lua/generate.lua http://127.0.0.1:PORT
-- Env: MODEL (default llama3.2), PROMPT (default "why is the sky blue").

local model = os.getenv("MODEL") or "llama3.2"
local prompt = os.getenv("PROMPT") or "why is the sky blue"

wrk.method = "POST"
wrk.path = "/api/generate"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"model":"%s","prompt":"%s","stream":false}',
                         model, prompt)

local bad = 0

function response(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    io.write(string.format("non-200 replies: %d\n", bad))
end
