-- wrk script: each request goes to a random tenant host t1.bench.test … tN.bench.test
-- (N from the TENANTS environment variable) at the path given as wrk's URL path.
local n = tonumber(os.getenv("TENANTS") or "1000")
math.randomseed(os.time())
request = function()
  wrk.headers["Host"] = "t" .. math.random(1, n) .. ".bench.test"
  return wrk.format("GET", wrk.path)
end
