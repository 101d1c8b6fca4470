-- wrk: the echo ceiling, POST /echo with a body the size of a redemption request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"code":"ABCD-EFGH-JKMN-PQRS","channel":"pos","receipt_remarks":"till 3"}'

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"created":%d,"refused":%d,"codes_exhausted":0,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.requests - summary.errors.status, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
