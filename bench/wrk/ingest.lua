-- wrk script: POSTs pre-signed Yeastar webhooks (bench/wrk/presign.py) to
-- /webhooks/<source>, each body once. Thread k of n sends lines k, k+n,
-- k+2n, ... of the file; a thread that runs out starts again (those
-- requests are duplicates, counted in "wrapped").
--   wrk -t1 -c64 -d10s -s bench/wrk/ingest.lua URL -- FILE SOURCE THREADS
-- done() prints one JSON line: requests, seconds, errors, latency (ms).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, source, n = args[1], args[2] or "pbx", tonumber(args[3] or "1")
  path = "/webhooks/" .. source
  sigs, bodies = {}, {}
  local k = 0
  for line in io.lines(file) do
    if k % n == index then
      local tab = line:find("\t", 1, true)
      sigs[#sigs + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    k = k + 1
  end
  i, wrapped = 0, 0
end

function request()
  i = i + 1
  if i > #bodies then i = 1; wrapped = wrapped + 1 end
  return wrk.format("POST", path,
    { ["Content-Type"] = "application/json", ["X-Signature"] = sigs[i] }, bodies[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  local wraps = 0
  for _, t in ipairs(threads) do wraps = wraps + (t:get("wrapped") or 0) end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "per_second": %.1f, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "wrapped": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, wraps))
end
