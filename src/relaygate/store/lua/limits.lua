-- relaygate's shared rate limits: one script, so that each step is one atomic round trip.
-- The rules are governance/limits.py's (MemoryLimiter); governance/redis_limits.py says why the
-- state is kept this way. Time is Redis's own clock, the same for every instance.
--
-- KEYS: 1 the key's requests bucket, 2 its tokens bucket, 3 its in-flight hash (instance -> count),
--       4 the instances hash (instance -> alive until, microseconds)
-- ARGV: 1 operation, 2 instance, 3 how long a heartbeat keeps the instance alive (microseconds), then
--   admit:  4 rpm, 5 tpm, 6 tokens to reserve, 7 max concurrency (0: no such limit)
--           -> {verdict (0 admitted, 1 concurrency, 2 requests, 3 tokens), wait us,
--               requests remaining, requests reset us, tokens remaining, tokens reset us}
--   settle: 4 tpm, 5 tokens to give back (negative: charge more), 6 "1" to free a concurrency slot
--   beat:   (nothing more) the instance is alive; instances whose time ran out are forgotten
--   lease:  4 rpm, 5 tpm, 6 max concurrency, 7 requests, 8 tokens and 9 slots needed now, 10 requests,
--           11 tokens and 12 slots wanted (at least the needs): the needs are granted whole or the
--           lease is refused as `admit` refuses; beyond them, as much of the wants as is left
--           -> {verdict, wait us, requests granted, tokens granted, slots granted,
--               requests remaining, requests reset us, tokens remaining, tokens reset us}
--   return: 4 rpm, 5 tpm, 6 requests, 7 tokens (negative: charge more) and 8 slots given back

local WINDOW = 60000000
local TOLERANCE = 0.001 -- microseconds, as MemoryLimiter's 1e-9 s
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local op, instance, alive = ARGV[1], ARGV[2], tonumber(ARGV[3])

-- A bucket holds up to `limit` units and refills `limit` per WINDOW. Its state is the level and
-- when it was read: only differences of whole microseconds meet the level, so no precision is
-- lost to the size of the epoch. A missing bucket is a full one.
local function level_of(key, limit)
  local state = redis.call('HMGET', key, 'l', 't')
  if not state[1] then
    return limit
  end
  return math.min(limit, tonumber(state[1]) + (now - tonumber(state[2])) * limit / WINDOW)
end

local function keep(key, limit, level)
  if level >= limit then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'l', string.format('%.17g', level), 't', string.format('%.0f', now))
  redis.call('PEXPIRE', key, math.ceil((limit - level) * WINDOW / limit / 1000) + 1)
end

local function wait_for(limit, level, units)
  return (units - level) * WINDOW / limit
end

local function report(limit, level)
  if limit == 0 then
    return -1, 0
  end
  return math.max(0, math.floor(level + 1e-9)), math.ceil(math.max(0, (limit - level) * WINDOW / limit))
end

-- Slots held by instances whose heartbeat ran out are dropped: a dead instance leaks nothing.
local function in_flight()
  local fields = redis.call('HGETALL', KEYS[3])
  local total = 0
  for i = 1, #fields, 2 do
    if tonumber(redis.call('HGET', KEYS[4], fields[i]) or 0) > now then
      total = total + tonumber(fields[i + 1])
    else
      redis.call('HDEL', KEYS[3], fields[i])
    end
  end
  return total
end

local function beat()
  redis.call('HSET', KEYS[4], instance, string.format('%.0f', now + alive))
end

if op == 'admit' then
  beat()
  local rpm, tpm, tokens, slots = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local requests = rpm > 0 and level_of(KEYS[1], rpm) or 0
  local budget = tpm > 0 and level_of(KEYS[2], tpm) or 0
  local units = math.min(tokens, tpm)
  local verdict, wait = 0, 0
  if slots > 0 and in_flight() >= slots then
    verdict, wait = 1, 1000000
  elseif rpm > 0 and wait_for(rpm, requests, 1) > TOLERANCE then
    verdict, wait = 2, wait_for(rpm, requests, 1)
  elseif tpm > 0 and wait_for(tpm, budget, units) > TOLERANCE then
    verdict, wait = 3, wait_for(tpm, budget, units)
  else
    if rpm > 0 then
      requests = requests - 1
      keep(KEYS[1], rpm, requests)
    end
    if tpm > 0 then
      budget = budget - units
      keep(KEYS[2], tpm, budget)
    end
    if slots > 0 then
      redis.call('HINCRBY', KEYS[3], instance, 1)
    end
  end
  local left_requests, reset_requests = report(rpm, requests)
  local left_tokens, reset_tokens = report(tpm, budget)
  return {verdict, math.ceil(wait), left_requests, reset_requests, left_tokens, reset_tokens}
elseif op == 'settle' then
  if ARGV[6] == '1' then
    local count = tonumber(redis.call('HGET', KEYS[3], instance) or 0)
    if count > 1 then
      redis.call('HINCRBY', KEYS[3], instance, -1)
    elseif count == 1 then
      redis.call('HDEL', KEYS[3], instance)
    end
  end
  local tpm, back = tonumber(ARGV[4]), tonumber(ARGV[5])
  if tpm > 0 and back ~= 0 then
    keep(KEYS[2], tpm, math.min(tpm, level_of(KEYS[2], tpm) + back))
  end
  return 0
elseif op == 'lease' then
  beat()
  local rpm, tpm, slots = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local need_r, need_t, need_s = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local want_r, want_t, want_s = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
  local requests = rpm > 0 and level_of(KEYS[1], rpm) or 0
  local budget = tpm > 0 and level_of(KEYS[2], tpm) or 0
  local busy = slots > 0 and in_flight() or 0
  local verdict, wait, got_r, got_t, got_s = 0, 0, 0, 0, 0
  if slots > 0 and busy + need_s > slots then
    verdict, wait = 1, 1000000
  elseif rpm > 0 and wait_for(rpm, requests, need_r) > TOLERANCE then
    verdict, wait = 2, wait_for(rpm, requests, need_r)
  elseif tpm > 0 and wait_for(tpm, budget, need_t) > TOLERANCE then
    verdict, wait = 3, wait_for(tpm, budget, need_t)
  else
    if rpm > 0 then
      got_r = math.max(need_r, math.min(want_r, math.floor(requests + 1e-9)))
      requests = requests - got_r
      keep(KEYS[1], rpm, requests)
    end
    if tpm > 0 then
      got_t = math.max(need_t, math.min(want_t, math.floor(budget + 1e-9)))
      budget = budget - got_t
      keep(KEYS[2], tpm, budget)
    end
    if slots > 0 then
      got_s = math.max(need_s, math.min(want_s, slots - busy))
      if got_s > 0 then
        redis.call('HINCRBY', KEYS[3], instance, got_s)
      end
    end
  end
  local left_requests, reset_requests = report(rpm, requests)
  local left_tokens, reset_tokens = report(tpm, budget)
  return {verdict, math.ceil(wait), got_r, got_t, got_s, left_requests, reset_requests, left_tokens, reset_tokens}
elseif op == 'return' then
  local rpm, tpm = tonumber(ARGV[4]), tonumber(ARGV[5])
  local back_r, back_t, back_s = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  if rpm > 0 and back_r ~= 0 then
    keep(KEYS[1], rpm, math.min(rpm, level_of(KEYS[1], rpm) + back_r))
  end
  if tpm > 0 and back_t ~= 0 then
    keep(KEYS[2], tpm, math.min(tpm, level_of(KEYS[2], tpm) + back_t))
  end
  if back_s > 0 then
    local count = tonumber(redis.call('HGET', KEYS[3], instance) or 0)
    if count > back_s then
      redis.call('HINCRBY', KEYS[3], instance, -back_s)
    elseif count > 0 then
      redis.call('HDEL', KEYS[3], instance)
    end
  end
  return 0
elseif op == 'beat' then
  beat()
  local seen = redis.call('HGETALL', KEYS[4])
  for i = 1, #seen, 2 do
    if tonumber(seen[i + 1]) <= now then
      redis.call('HDEL', KEYS[4], seen[i])
    end
  end
  return 1
end
return redis.error_reply('relaygate limits: unknown operation ' .. tostring(op))
