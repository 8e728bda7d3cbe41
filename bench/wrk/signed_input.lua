-- POST /input with pre-signed bodies, each used once (signatures are single-use): thread k of
-- n sends lines k, k+n, k+2n, ... of the file named by $BODIES (n = $WRK_THREADS).
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  bodies = {}
  for line in io.lines(os.getenv("BODIES")) do
    bodies[#bodies + 1] = line
  end
  nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  index = id + 1
end

function request()
  local body = bodies[index]
  if body == nil then
    error("out of pre-signed bodies: generate more")
  end
  index = index + nthreads
  return wrk.format("POST", "/input", {["Content-Type"] = "application/json"}, body)
end
