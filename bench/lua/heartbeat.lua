-- wrk script: heartbeats from 1,000 distinct nodes, round robin.
-- Env: MESH_HB_FILE, lines "<Authorization value>\t<body>" signed ahead
-- (bench/mesh/run.sh): a signature is accepted once, so each line is sent
-- once; past the end the lines repeat and count as non-200 (replays).
local lines = {}
for line in io.lines(os.getenv("MESH_HB_FILE")) do
    local auth, body = line:match("^([^\t]+)\t(.*)$")
    lines[#lines + 1] = { auth, body }
end
local n = 0
local bad = 0

request = function()
    n = n + 1
    local l = lines[(n - 1) % #lines + 1]
    return wrk.format("POST", "/mesh/v1/nodes/heartbeat",
        { ["Authorization"] = l[1],
          ["Content-Type"] = "application/json" }, l[2])
end

function response(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    io.write(string.format("non-200 replies: %d\n", bad))
end
