-- wrk script for tests/bench/load.sh: sends a fixed GET with a User-Agent
-- (no per-request Lua: the request is built once) and prints one
-- machine-readable summary line at the end. Latencies are in microseconds.
wrk.method = "GET"
wrk.headers["User-Agent"] = "observatory-bench/wrk"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.bytes,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max),
    e.connect, e.read, e.write, e.status, e.timeout))
end
