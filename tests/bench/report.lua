-- wrk script for tests/bench/load.sh: sends a fixed GET with a User-Agent,
-- or a POST of the file BENCH_BODY_FILE (Content-Type BENCH_BODY_TYPE), with
-- no per-request Lua (the request is built once), and prints one
-- machine-readable summary line at the end. Latencies are in microseconds.
wrk.method = "GET"
wrk.headers["User-Agent"] = "observatory-bench/wrk"
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("BENCH_BODY_TYPE") or "application/json"
end

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
