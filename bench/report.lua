-- wrk script: optional POST body from environment, random submission ids, JSON summary.
local body_template = os.getenv("BENCH_BODY")
local method = os.getenv("BENCH_METHOD") or "GET"
math.randomseed(os.time())

local function hex32()
  local t = {}
  for i = 1, 32 do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

request = function()
  if body_template then
    local body = body_template:gsub("SUBMISSION", hex32)
    -- wrk.format replaces wrk.headers when given headers: keep the Cookie from -H.
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format(method, nil, headers, body)
  end
  return wrk.format(method)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors))
end
