-- wrk: each request redeems a fresh voucher (one code per request, never reused).
-- CODES_FILE holds one code per line; thread k of WRK_THREADS takes lines k, k+n, k+2n, ...
-- TILL_TOKEN is a till's bearer token. done() prints one JSON line the bench reads.
local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  local n = tonumber(os.getenv("WRK_THREADS") or "1")
  local i = 0
  for line in io.lines(os.getenv("CODES_FILE")) do
    if i % n == id then codes[#codes + 1] = line end
    i = i + 1
  end
  next_code = 0
  token = os.getenv("TILL_TOKEN")
  created, refused, used_up = 0, 0, 0
end

function request()
  next_code = next_code + 1
  local code = codes[next_code]
  if code == nil then
    used_up = used_up + 1
    code = "USED-UP"   -- more requests than codes: refused (404/422), and reported as such
  end
  return wrk.format("POST", "/api/v1/redemptions", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "bench-" .. code .. "-" .. next_code,
  }, '{"code":"' .. code .. '","channel":"pos"}')
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local c, r, u = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); r = r + t:get("refused"); u = u + t:get("used_up")
  end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"created":%d,"refused":%d,"codes_exhausted":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, c, r, u,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
