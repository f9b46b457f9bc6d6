-- wrk script: each request goes to a random tenant host t1.bench.test … tN.bench.test
-- (N from the TENANTS environment variable, the domain after the number from
-- HOST_SUFFIX, default ".bench.test") at the path given as wrk's URL path.
local n = tonumber(os.getenv("TENANTS") or "1000")
local suffix = os.getenv("HOST_SUFFIX") or ".bench.test"
math.randomseed(os.time())
request = function()
  wrk.headers["Host"] = "t" .. math.random(1, n) .. suffix
  return wrk.format("GET", wrk.path)
end
