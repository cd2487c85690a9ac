-- wrk script: heartbeats from 1,000 distinct nodes, round robin.
-- Env: MESH_SECRET (the mesh credential).
local secret = os.getenv("MESH_SECRET") or ""
local n = 0
local bad = 0

request = function()
    n = n + 1
    local id = n % 1000
    local body = string.format(
        '{"node_id":"bench-%d","host":"127.0.0.%d","port":%d,' ..
        '"models":[{"name":"mistral:7b","type":"text","size_gb":4.1},' ..
        '{"name":"codellama:7b","type":"code","size_gb":3.8}],' ..
        '"hardware":{"ram_total_gb":16,"ram_free_gb":%d,"has_gpu":false,' ..
        '"gpu_vram_gb":0},"status":"idle","active_tasks":0,"max_tasks":4}',
        id, 2 + id % 200, 40000 + id, id % 16)
    return wrk.format("POST", "/mesh/v1/nodes/heartbeat",
        { ["Authorization"] = "Bearer " .. secret,
          ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    io.write(string.format("non-200 replies: %d\n", bad))
end
