-- wrk script: signed heartbeats from a file, each line sent once, paced.
-- Env: MESH_HB_FILE (lines "<Authorization value>\t<body>", signed ahead),
-- MESH_HB_DELAY_MS (pause before each request on a connection, default 0).
-- Use with -t1: the thread stops once every line has its reply.
local lines = {}
for line in io.lines(os.getenv("MESH_HB_FILE")) do
    local auth, body = line:match("^([^\t]+)\t(.*)$")
    lines[#lines + 1] = { auth, body }
end
local pause = tonumber(os.getenv("MESH_HB_DELAY_MS") or "0")
local n, got, bad = 0, 0, 0

request = function()
    n = n + 1
    local l = lines[(n - 1) % #lines + 1]
    return wrk.format("POST", "/mesh/v1/nodes/heartbeat",
        { ["Authorization"] = l[1],
          ["Content-Type"] = "application/json" }, l[2])
end

delay = function()
    return pause
end

function response(status, headers, body)
    got = got + 1
    if status ~= 200 then
        bad = bad + 1
    end
    if got >= #lines then
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    io.write(string.format("non-200 replies: %d\n", bad))
end
