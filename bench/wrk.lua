-- The script every bench/http.py run gives wrk: a bearer token on every request when
-- WRK_TOKEN is set (an authenticated route), or one of WRK_TOKENS (comma-separated) in turn,
-- each thread from its own offset (many people); at the end one line of JSON with the
-- figures (exact counts and percentiles, not wrk's rounded text).

local token = os.getenv("WRK_TOKEN")
if token and token ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. token
end

local tokens = {}
for t in string.gmatch(os.getenv("WRK_TOKENS") or "", "[^,]+") do
   tokens[#tokens + 1] = t
end

local threads = 0
setup = function(thread)
   thread:set("offset", threads * 101)
   threads = threads + 1
end

if #tokens > 0 then
   local i = 0
   request = function()
      i = i + 1
      wrk.headers["Authorization"] = "Bearer " .. tokens[((offset or 0) + i) % #tokens + 1]
      return wrk.format()
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '\nWRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, ' ..
      '"p90_us": %d, "p99_us": %d, "max_us": %d, "connect": %d, "read": %d, ' ..
      '"write": %d, "status": %d, "timeout": %d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
