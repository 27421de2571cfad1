-- POST a small JSON event with a unique Idempotency-Key on every request, or with
-- "duplicates" one of 100 keys over and over (after the first 100, every one a duplicate).
-- Arguments after "--": the trigger's secret (sent as a bearer token), then the mode.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  secret = args[1] or ""
  duplicates = args[2] == "duplicates"
  counter = 0
  math.randomseed(os.time() + tid)
end

function request()
  counter = counter + 1
  local key = tid .. "-" .. counter .. "-" .. math.random(1, 1000000000)
  if duplicates then
    key = "dup-" .. (counter % 100)
  end
  local body = '{"event": "order.paid", "data": {"n": ' .. counter .. '}}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. secret,
    ["Idempotency-Key"] = key,
  }
  return wrk.format("POST", nil, headers, body)
end
