-- relaygate's shared budgets: the rules of governance/budgets.py (BudgetLedger), one atomic call per
-- step; governance/redis_budgets.py says why the state is kept this way. Money is in whole units of
-- 1e-10 USD (metering/money.py), added by Redis's own 64-bit INCRBY.
--
-- KEYS: 1 the key's total spend, 2 its spend this month, 3 its spend today, 4 its held hash
--       (instance -> units reserved by requests in flight), 5 the instances hash (instance -> alive until)
-- ARGV: 1 operation, 2 instance, 3 how long a heartbeat keeps the instance alive (microseconds), then
--   reserve: 4 which spend the budget counts (1 total, 2 month, 3 day), 5 budget, 6 amount
--            -> {1 reserved | 0 refused, spent, held by requests in flight}
--   settle:  4 units to release, 5 cost to book
--   seed:    4 total, 5 month, 6 day: each count is raised to at least these (the database's figures)

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local op, instance, alive = ARGV[1], ARGV[2], tonumber(ARGV[3])
local LIFETIMES = {nil, 32 * 86400, 2 * 86400} -- seconds a month's and a day's count are kept

local function keep(i)
  if LIFETIMES[i] then
    redis.call('EXPIRE', KEYS[i], LIFETIMES[i])
  end
end

-- Reservations of instances whose heartbeat ran out are dropped: a dead instance holds nothing.
local function held()
  local fields = redis.call('HGETALL', KEYS[4])
  local total = 0
  for i = 1, #fields, 2 do
    if tonumber(redis.call('HGET', KEYS[5], fields[i]) or 0) > now then
      total = total + tonumber(fields[i + 1])
    else
      redis.call('HDEL', KEYS[4], fields[i])
    end
  end
  return total
end

if op == 'reserve' then
  redis.call('HSET', KEYS[5], instance, string.format('%.0f', now + alive))
  local spent = tonumber(redis.call('GET', KEYS[tonumber(ARGV[4])]) or 0)
  local budget, amount = tonumber(ARGV[5]), tonumber(ARGV[6])
  local in_flight = held()
  local left = budget - spent - in_flight
  if left <= 0 or amount > left then
    return {0, string.format('%.0f', spent), string.format('%.0f', in_flight)}
  end
  if amount > 0 then
    redis.call('HINCRBY', KEYS[4], instance, ARGV[6])
  end
  return {1, string.format('%.0f', spent), string.format('%.0f', in_flight)}
elseif op == 'settle' then
  local release = tonumber(ARGV[4])
  if release > 0 then
    local mine = tonumber(redis.call('HGET', KEYS[4], instance) or 0)
    if mine > release then
      redis.call('HINCRBY', KEYS[4], instance, string.format('%.0f', -release))
    elseif mine > 0 then
      redis.call('HDEL', KEYS[4], instance)
    end
  end
  if tonumber(ARGV[5]) > 0 then
    for i = 1, 3 do
      redis.call('INCRBY', KEYS[i], ARGV[5])
      keep(i)
    end
  end
  return 0
elseif op == 'seed' then
  for i = 1, 3 do
    if tonumber(redis.call('GET', KEYS[i]) or 0) < tonumber(ARGV[3 + i]) then
      redis.call('SET', KEYS[i], ARGV[3 + i])
      keep(i)
    end
  end
  return 0
end
return redis.error_reply('relaygate budgets: unknown operation ' .. tostring(op))
