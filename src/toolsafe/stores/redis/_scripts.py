"""The Lua scripts of the Redis store: each store step is one script, one atomic step
on the server (no read-modify-write race between processes). Time is the server's
(``TIME``). The keys and what they hold are in the package docstring."""

from __future__ import annotations

__all__ = ["JOINED", "SCRIPTS"]

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_NOW_S = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
"""

#: KEYS: slots, queue, queue heartbeats, ticket counter.
#: ARGV: limit, lease ms, lease id, waiter id ('' = do not queue), heartbeat ms.
#: Returns 1 (the lease is held) or 0.
ACQUIRE = (
    _NOW_MS
    + """
local limit = tonumber(ARGV[1])
local waiter = ARGV[4]
local hb = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, #dead do redis.call('ZREM', KEYS[2], dead[i]) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
local free = limit - redis.call('ZCARD', KEYS[1])
local ahead = false
if waiter ~= '' then ahead = redis.call('ZRANK', KEYS[2], waiter) end
if not ahead then ahead = redis.call('ZCARD', KEYS[2]) end
if free > ahead then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(top[2]) - now + 1000))
  if waiter ~= '' then
    redis.call('ZREM', KEYS[2], waiter)
    redis.call('ZREM', KEYS[3], waiter)
  end
  return 1
end
if waiter ~= '' then
  if not redis.call('ZSCORE', KEYS[2], waiter) then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), waiter)
  end
  redis.call('ZADD', KEYS[3], now + hb, waiter)
  redis.call('PEXPIRE', KEYS[2], hb + 1000)
  redis.call('PEXPIRE', KEYS[3], hb + 1000)
  redis.call('PEXPIRE', KEYS[4], hb + 1000)
end
return 0
"""
)

#: KEYS: queue, queue heartbeats. ARGV: waiter id. A waiter that gave up leaves.
LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

#: KEYS: slots. ARGV: lease id, lease ms. Returns 1 (extended) or 0 (it had expired).
RENEW = (
    _NOW_MS
    + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  if score then redis.call('ZREM', KEYS[1], ARGV[1]) end
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(top[2]) - now + 1000))
return 1
"""
)

#: KEYS: bucket. ARGV: rate (tokens/s), burst, max wait s (-1: any).
#: Returns {granted 0/1, wait s}. A granted wait reserves the token (the bucket
#: goes negative), so waiters are served in order without asking again.
TAKE = (
    _NOW_S
    + """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
tokens = tokens - 1
local ok = 1
local wait = 0
if tokens < 0 then
  wait = -tokens / rate
  if max_wait >= 0 and wait > max_wait then
    tokens = tokens + 1
    ok = 0
  end
end
redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'ts', fmt(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {ok, fmt(wait)}
"""
)

#: KEYS: breaker. ARGV: cooldown s, probes, key ttl ms.
#: Returns {allowed, probe, state, retry_after s, changed}.
BREAKER_ADMIT = (
    _NOW_S
    + """
local cooldown = tonumber(ARGV[1])
local probes = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probes_out', 'probe_expires')
local state = h[1]
if not state or state == 'closed' then return {1, 0, 'closed', '0', 0} end
local changed = 0
local out = tonumber(h[3]) or 0
if state == 'open' then
  local open_until = tonumber(h[2]) or 0
  if now < open_until then return {0, 0, 'open', fmt(open_until - now), 0} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_successes', 0)
  out = 0
  changed = 1
end
local probe_expires = tonumber(h[4]) or 0
if out >= probes and now >= probe_expires then out = 0 end
if out < probes then
  redis.call('HSET', KEYS[1], 'probes_out', out + 1, 'probe_expires', fmt(now + cooldown))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return {1, 1, 'half_open', '0', changed}
end
return {0, 0, 'half_open', fmt(math.max(0, probe_expires - now)), changed}
"""
)

#: KEYS: breaker. ARGV: failures (-1: unused), failure rate (-1: unused), window s,
#: min calls, cooldown s, probes, outcome, probe (0/1), key ttl ms.
#: Returns {previous state, state}. The failure window is 10 buckets ('w:c:<i>',
#: 'w:f:<i>': calls and failures of bucket i) in the breaker's hash.
BREAKER_RECORD = (
    _NOW_S
    + """
local failures = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local min_calls = tonumber(ARGV[4])
local cooldown = tonumber(ARGV[5])
local probes = tonumber(ARGV[6])
local outcome = ARGV[7]
local probe = ARGV[8] == '1'
local ttl = tonumber(ARGV[9])
local key = KEYS[1]
local exists = redis.call('EXISTS', key) == 1
if not exists and outcome ~= 'failure' and rate < 0 and not probe then
  return {'closed', 'closed'}
end
local h = redis.call('HMGET', key, 'state', 'consecutive', 'probes_out', 'probe_successes')
local previous = h[1] or 'closed'
local function open()
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', 'open', 'open_until', fmt(now + cooldown))
  redis.call('PEXPIRE', key, ttl)
end
if probe and previous == 'half_open' then
  local out = math.max(0, (tonumber(h[3]) or 0) - 1)
  if outcome == 'failure' then
    open()
    return {previous, 'open'}
  end
  if outcome == 'success' then
    local successes = (tonumber(h[4]) or 0) + 1
    if successes >= probes then
      redis.call('DEL', key)
      return {previous, 'closed'}
    end
    redis.call('HSET', key, 'probe_successes', successes)
  end
  redis.call('HSET', key, 'probes_out', out)
  redis.call('PEXPIRE', key, ttl)
  return {previous, 'half_open'}
end
if previous ~= 'closed' then return {previous, previous} end
if outcome == 'ignore' then return {'closed', 'closed'} end
local failed = outcome == 'failure'
local consecutive = 0
if failed then consecutive = (tonumber(h[2]) or 0) + 1 end
local trip = failures >= 0 and consecutive >= failures
if rate >= 0 then
  local index = math.floor(now / (window / 10))
  local fields = redis.call('HKEYS', key)
  local calls = 1
  local fails = 0
  if failed then fails = 1 end
  for i = 1, #fields do
    local f = fields[i]
    if string.sub(f, 1, 2) == 'w:' then
      local bucket = tonumber(string.sub(f, 5))
      if bucket <= index - 10 then
        redis.call('HDEL', key, f)
      elseif string.sub(f, 3, 3) == 'c' then
        calls = calls + tonumber(redis.call('HGET', key, f))
      else
        fails = fails + tonumber(redis.call('HGET', key, f))
      end
    end
  end
  local suffix = string.format('%d', index)
  redis.call('HINCRBY', key, 'w:c:' .. suffix, 1)
  if failed then redis.call('HINCRBY', key, 'w:f:' .. suffix, 1) end
  trip = (calls >= min_calls and fails >= rate * calls) or trip
end
if trip then
  open()
  return {'closed', 'open'}
end
if consecutive > 0 or rate >= 0 then
  redis.call('HSET', key, 'state', 'closed', 'consecutive', consecutive)
  redis.call('PEXPIRE', key, ttl)
elseif exists then
  redis.call('HSET', key, 'consecutive', 0)
end
return {'closed', 'closed'}
"""
)

#: Idempotency records (``toolsafe.stores._once`` has the states): a hash with ``s``
#: (state), ``owner``, ``until`` (lease end, ms) and ``p`` (the payload's JSON). The
#: hash lives the record's TTL, the lease only ``until``: a holder that dies leaves
#: an ``unknown`` key, never a free one.
#: KEYS: record. ARGV: owner, lease ms, ttl ms, payload JSON for a lost holder.
#: Returns {status, payload JSON or ''}.
ONCE_BEGIN = (
    _NOW_MS
    + """
local s = redis.call('HGET', KEYS[1], 's')
if not s then
  redis.call('HSET', KEYS[1], 's', 'pending', 'owner', ARGV[1], 'until', now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return {'run', ''}
end
if s == 'pending' then
  if tonumber(redis.call('HGET', KEYS[1], 'until')) > now then return {'in_flight', ''} end
  redis.call('HSET', KEYS[1], 's', 'unknown', 'p', ARGV[4])
  return {'unknown', ARGV[4]}
end
return {s, redis.call('HGET', KEYS[1], 'p') or ''}
"""
)

#: KEYS: record. ARGV: owner, lease ms. Returns 1 (extended) or 0 (no longer its claim).
ONCE_RENEW = (
    _NOW_MS
    + """
if redis.call('HGET', KEYS[1], 's') ~= 'pending' then return 0 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'until', now + tonumber(ARGV[2]))
return 1
"""
)

#: KEYS: record. ARGV: owner, status (done|failed|unknown|clear), payload JSON, ttl ms.
#: Returns 1 (recorded) or 0 (kept as it was).
ONCE_FINISH = """
local s = redis.call('HGET', KEYS[1], 's')
local owner = redis.call('HGET', KEYS[1], 'owner')
if ARGV[2] == 'clear' then
  if (not s) or s == 'unknown' or owner == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if s == 'done' or s == 'failed' then return 0 end
if s == 'pending' and owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', ARGV[2], 'p', ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
"""

#: KEYS: slots. ARGV: lease id. Gives a slot back (the joined ``settle``).
RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

#: The scripts a joined step may run, with their (key count, argument count).
_JOINABLE = {
    "once_begin": (ONCE_BEGIN, 1, 4),
    "admit": (BREAKER_ADMIT, 1, 3),
    "take": (TAKE, 1, 3),
    "acquire": (ACQUIRE, 4, 5),
    "release": (RELEASE, 1, 1),
    "record": (BREAKER_RECORD, 1, 9),
    "once_finish": (ONCE_FINISH, 1, 4),
}


def _joined() -> str:
    """Several steps in one script (``Store.admit`` / ``settle``): each step's script is
    a local function of its own KEYS and ARGV; they run in the order given.

    ARGV: stop early (1: at the first step that does not let the call go on: a key
    not to run, a refusing breaker, a token to wait for or refused, a slot not
    free), the number of steps n, the n step names, then every step's arguments in
    order; KEYS: every step's keys in order. Returns the answers of the steps run."""
    parts = []
    for name, (body, _, _) in _JOINABLE.items():
        parts.append(f"local function s_{name}(KEYS, ARGV)\n{body}\nend\n")
    table = ", ".join(f"{n}={{s_{n}, {k}, {a}}}" for n, (_, k, a) in _JOINABLE.items())
    return (
        "".join(parts)
        + f"local steps = {{{table}}}\n"
        + """
local function go_on(name, r)
  if name == 'once_begin' then return r[1] == 'run' end
  if name == 'admit' then return r[1] == 1 end
  if name == 'take' then return r[1] == 1 and tonumber(r[2]) <= 0 end
  if name == 'acquire' then return r == 1 end
  return true
end
local stop = ARGV[1] == '1'
local n = tonumber(ARGV[2])
local ki = 1
local ai = 3 + n
local out = {}
for s = 1, n do
  local name = ARGV[2 + s]
  local step = steps[name]
  local k = {}
  for i = 1, step[2] do k[i] = KEYS[ki]; ki = ki + 1 end
  local a = {}
  for i = 1, step[3] do a[i] = ARGV[ai]; ai = ai + 1 end
  local r = step[1](k, a)
  out[s] = r
  if stop and not go_on(name, r) then break end
end
return out
"""
    )


JOINED = _joined()

SCRIPTS = {
    "joined": JOINED,
    "acquire": ACQUIRE,
    "leave": LEAVE,
    "renew": RENEW,
    "take": TAKE,
    "admit": BREAKER_ADMIT,
    "record": BREAKER_RECORD,
    "once_begin": ONCE_BEGIN,
    "once_renew": ONCE_RENEW,
    "once_finish": ONCE_FINISH,
}
