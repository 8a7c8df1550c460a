-- wrk script: POST one chat completion per request. Environment: STREAM=1 streams, KEY, MODEL.
-- Prints one line: RESULT rps=… p50_ms=… p90_ms=… p99_ms=… errors=… non2xx=…
local stream = os.getenv("STREAM") == "1"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("KEY") or "sk-bench")
wrk.body = '{"model":"' .. (os.getenv("MODEL") or "bench-model") .. '","messages":['
  .. '{"role":"system","content":"You are a helpful assistant."},'
  .. '{"role":"user","content":"Write one sentence about benchmarks."}],"max_tokens":64'
  .. (stream and ',"stream":true' or '') .. '}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
