-- wrk script for bench/serve.py: POST /v1/translate with K sentences a request, taken in turn
-- from a file of sentences (one a line), all requests built before the run.
--   wrk -c N -d S -s bench/serve.lua URL -- SENTENCES.txt K
-- done() prints one line: "result requests=R seconds=S p50_ms=A p99_ms=B errors=E".
local reqs, n, i = {}, 0, 0

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\' end
    return string.format('\\u%04x', c:byte())
  end) .. '"'
end

function init(args)
  local path, k = args[1], tonumber(args[2] or "1")
  local lines = {}
  for line in io.lines(path) do lines[#lines + 1] = json_string(line) end
  local hdr = {["Content-Type"] = "application/json"}
  for s = 1, #lines, k do
    local part = {}
    for j = s, math.min(s + k - 1, #lines) do part[#part + 1] = lines[j] end
    if #part == k then
      n = n + 1
      reqs[n] = wrk.format("POST", "/v1/translate", hdr, '{"text": [' .. table.concat(part, ", ") .. ']}')
    end
  end
  i = math.random(n) - 1  -- threads start at different places
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("result requests=%d seconds=%.6f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
