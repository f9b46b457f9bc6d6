-- wrk script: each request goes to a random tenant host t1.bench.test … tN.bench.test
-- (N from the TENANTS environment variable, the domain after the number from
-- HOST_SUFFIX, default ".bench.test") at the path given as wrk's URL path.
--
-- DIST picks the tenant: "uniform" (default) or "zipf", where tenant k is
-- drawn with probability proportional to 1/k^s (s from ZIPF_S, default 1.1),
-- so t1 is the hottest. The Zipf cumulative table is computed once per
-- thread and searched by bisection. Each thread seeds its own generator.
local n = tonumber(os.getenv("TENANTS") or "1000")
local suffix = os.getenv("HOST_SUFFIX") or ".bench.test"
local dist = os.getenv("DIST") or "uniform"
local s = tonumber(os.getenv("ZIPF_S") or "1.1")

-- setup runs in wrk's main Lua state, once per thread: give each an id.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local cdf -- cdf[k] = P(tenant <= k), for dist == "zipf"

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
  for _ = 1, 10 do math.random() end -- the first draws after seeding are poor
  if dist == "zipf" then
    cdf = {}
    local sum = 0
    for k = 1, n do
      sum = sum + 1 / k ^ s
      cdf[k] = sum
    end
    for k = 1, n do cdf[k] = cdf[k] / sum end
  elseif dist ~= "uniform" then
    error("DIST must be uniform or zipf, not " .. dist)
  end
end

local function zipf()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do -- smallest k with cdf[k] >= u
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

request = function()
  local k
  if cdf then k = zipf() else k = math.random(1, n) end
  wrk.headers["Host"] = "t" .. k .. suffix
  return wrk.format("GET", wrk.path)
end
