"""The cluster queue's Redis scripts: each step that reads and changes the queue is one
script, so every worker sees one order and no two steps interleave.

Keys, under ``P`` (``<REDIS_PREFIX>:queue``): ``P:all`` (waiter id -> its record, JSON),
``P:q:<model>`` (the same, one model's), ``P:run`` (owner -> calls running),
``P:vt`` (``~`` -> the virtual clock, owner -> the end of its last turn), ``P:order``,
``P:ws:<worker>`` (a worker's slot tokens -> slot key, owner, model, limit,
headroom), ``P:workers`` (worker -> last heartbeat), ``P:freed:<slot key>`` (slots
freed for a waiter, not yet taken: Redis' time and the worker that freed each). A
wake-up is a message on ``P:wake:<worker>``: ``w <id>`` (your turn), ``r <id>``
(your place went to another's call). The names are built in
the scripts from ``P`` (ARGV[1]): the gateway runs on one Redis, not a Redis Cluster.
"""

from __future__ import annotations

# ARGV[1] = P, ARGV[2] = BATCH_MAX_WAIT (seconds)
PRELUDE = """
local P, MAXWAIT = ARGV[1], tonumber(ARGV[2])
local function now()  -- Redis' clock: one for every host
  local t = redis.call('TIME'); return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function micros()  -- the same clock, in whole microseconds
  local t = redis.call('TIME'); return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- the slots of limit owner o may fill: with a headroom H, an owner that runs a call
-- leaves the last H free (at least one slot stays anyone's; ``headroom.cap``)
local function fill(limit, H, o)
  if H > 0 and tonumber(redis.call('HGET', P .. ':run', o) or '0') > 0 then
    return math.max(1, limit - H)
  end
  return limit
end
local function less(a, b)
  for i = 1, #a do if a[i] ~= b[i] then return a[i] < b[i] end end
  return false
end
-- the fair order: band (batch aged past MAXWAIT is interactive), fewest running
-- per weight, virtual start, arrival
local function head(group, t)
  local best, bk
  for _, raw in ipairs(redis.call('HVALS', P .. ':q:' .. group)) do
    local w = cjson.decode(raw)
    local band = w.b
    if band > 0 and t - w.s >= MAXWAIT then band = 0 end
    local run = tonumber(redis.call('HGET', P .. ':run', w.o) or '0') / w.w
    local k = {band, run, w.t, w.n}
    if not bk or less(k, bk) then best, bk = w, k end
  end
  return best
end
local function kick(group, t, skip)
  local w = head(group, t)
  if w and w.id ~= skip then
    redis.call('PUBLISH', P .. ':wake:' .. w.k, 'w ' .. w.id)
  end
  return w
end
local function drop(w)
  redis.call('HDEL', P .. ':all', w.id)
  redis.call('HDEL', P .. ':q:' .. w.g, w.id)
end
local function vclock() return tonumber(redis.call('HGET', P .. ':vt', '~') or '0') end
-- start-time fair turns: an owner's next starts after its last one ends, never
-- before the virtual clock (an owner that was away banks no turns)
local function turn(owner, weight)
  local vt, v = P .. ':vt', vclock()
  local start = math.max(tonumber(redis.call('HGET', vt, owner) or '0'), v)
  redis.call('HSET', vt, owner, start + 1 / weight)
  if redis.call('HLEN', vt) > 10000 then  -- owners long gone
    local all = redis.call('HGETALL', vt)
    for i = 1, #all, 2 do
      if all[i] ~= '~' and tonumber(all[i + 1]) <= v then
        redis.call('HDEL', vt, all[i])
      end
    end
  end
  return start
end
local function unrun(owner)
  if redis.call('HINCRBY', P .. ':run', owner, -1) <= 0 then
    redis.call('HDEL', P .. ':run', owner)
  end
end
"""

# 3 slot key, 4 limit, 5 lease, 6 token, 7 worker, 8 owner, 9 weight, 10 model,
# 11 waiter id ('' for a call that did not wait), 12 now (the slots' clock),
# 13 headroom (``headroom.cap``: slots kept for owners with none running),
# 14 the band of a call that did not wait (0 interactive, 1 batch)
# -> 1 taken, 0 full, -1 others wait, -2 the waiter's place is gone, -3 not first;
# {1, microseconds, same worker 1/0}: taken by a waiter, the slot freed that long ago
TAKE = (
    PRELUDE
    + """
local key, limit, lease, token = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local worker, owner, weight = ARGV[7], ARGV[8], tonumber(ARGV[9])
local group, wid = ARGV[10], ARGV[11]
local clock, H = tonumber(ARGV[12]), tonumber(ARGV[13])
redis.call('ZREMRANGEBYSCORE', key, '-inf', clock - lease)
local inuse = redis.call('ZCARD', key)
local function room(o)  -- a slot here for owner o (the headroom aside)
  return inuse < fill(limit, H, o)
end
local function idle_waits()  -- a waiter whose owner runs nothing
  for _, raw in ipairs(redis.call('HVALS', P .. ':q:' .. group)) do
    if not redis.call('HGET', P .. ':run', cjson.decode(raw).o) then return true end
  end
  return false
end
local freed = P .. ':freed:' .. key
local me, first
-- refused while a slot is free: the first in line is woken, as it may not know it
-- is first (a batch call aged into the interactive band, a running count changed)
if wid == '' then
  if redis.call('EXISTS', P .. ':q:' .. group) == 1 then
    if inuse >= limit then return -1 end  -- full: nobody to wake, no line to read
    local t = now()
    first = head(group, t)
    local band = first.b
    if band > 0 and t - first.s >= MAXWAIT then band = 0 end
    -- with a headroom, a call whose owner runs nothing comes first in the fair
    -- order (no waiter runs nothing): it takes a free slot at once, as alone; a
    -- batch one only a slot the interactive first in line may not take
    local mine = H > 0
      and not redis.call('HGET', P .. ':run', owner)
      and (tonumber(ARGV[14]) <= band or not room(first.o)) and not idle_waits()
    if not mine then
      if room(first.o) then
        redis.call('PUBLISH', P .. ':wake:' .. first.k, 'w ' .. first.id)
      end
      return -1
    end
  end
else
  me = head(group, now())
  if not me or me.id ~= wid then
    if redis.call('HEXISTS', P .. ':q:' .. group, wid) == 0 then return -2 end
    if room(me.o) then redis.call('PUBLISH', P .. ':wake:' .. me.k, 'w ' .. me.id) end
    return -3
  end
end
if not room(owner) then return 0 end
redis.call('ZADD', key, clock, token)
redis.call('EXPIRE', key, lease)
redis.call('HINCRBY', P .. ':run', owner, 1)
redis.call('HSET', P .. ':ws:' .. worker, token,
  cjson.encode({key, owner, group, limit, H}))
local start = me and me.t or turn(owner, weight)  -- a waiter's turn: its own
if start > vclock() then redis.call('HSET', P .. ':vt', '~', start) end
if first then  -- taken before the line: a slot noted for it is this call's
  redis.call('LPOP', freed)
  inuse = inuse + 1
  if room(first.o) then
    redis.call('PUBLISH', P .. ':wake:' .. first.k, 'w ' .. first.id)
  end
  return 1
end
if not me then  -- nobody waits: slots freed for waiters that left are just free
  redis.call('DEL', freed)
  return 1
end
local f = redis.call('LPOP', freed)  -- the oldest slot freed for a waiter: the hand-off
if not f then return 1 end
local sp = string.find(f, ' ')
local us = micros() - tonumber(string.sub(f, 1, sp - 1))
return {1, us, string.sub(f, sp + 1) == worker and 1 or 0}
"""
)

# 3 slot key, 4 token, 5 worker, 6 model, 7 waiter id not to wake ('' none)
# A slot freed that the first in line may take (the headroom aside) is noted with
# Redis' time and this worker in P:freed:<slot key>: the take that grants it to a
# waiter measures the hand-off on the same clock, whichever host it runs on.
GIVE = (
    PRELUDE
    + """
local key = ARGV[3]
redis.call('ZREM', key, ARGV[4])
local ws = P .. ':ws:' .. ARGV[5]
local rec = redis.call('HGET', ws, ARGV[4])
if rec then
  redis.call('HDEL', ws, ARGV[4])
  rec = cjson.decode(rec)
  unrun(rec[2])
end
local w = kick(ARGV[6], now(), ARGV[7])
if w and rec and rec[4] and w.id ~= ARGV[7] then
  local limit = rec[4]
  if redis.call('ZCARD', key) < fill(limit, rec[5], w.o) then
    local freed = P .. ':freed:' .. key
    redis.call('RPUSH', freed, string.format('%.0f', micros()) .. ' ' .. ARGV[5])
    redis.call('LTRIM', freed, -limit, -1)  -- no more are free than there are slots
    redis.call('EXPIRE', freed, 60)
  end
end
"""
)

# 3 the waiter's record (JSON, without since, start and order), 4 its owner,
# 5 weight, 6.. ids of waiters that give their place to it -> {1 if it is first}
JOIN = (
    PRELUDE
    + """
local t = now()
for i = 6, #ARGV do
  local raw = redis.call('HGET', P .. ':all', ARGV[i])
  if raw then
    local w = cjson.decode(raw)
    drop(w)
    redis.call('PUBLISH', P .. ':wake:' .. w.k, 'r ' .. w.id)
    kick(w.g, t, '')
  end
end
local me = cjson.decode(ARGV[3])
me.s, me.t = t, turn(ARGV[4], tonumber(ARGV[5]))
me.n = redis.call('INCR', P .. ':order')
local raw = cjson.encode(me)
redis.call('HSET', P .. ':all', me.id, raw)
redis.call('HSET', P .. ':q:' .. me.g, me.id, raw)
local first = head(me.g, t)
return first.id == me.id and 1 or 0
"""
)

# 3 waiter id -> 1 when it was still waiting
LEAVE = (
    PRELUDE
    + """
local raw = redis.call('HGET', P .. ':all', ARGV[3])
if not raw then return 0 end
local w = cjson.decode(raw)
drop(w)
-- the next is woken whether or not this one was first: a call just granted may
-- no longer count as first (its owner runs one more), and the slot it did not
-- need, or the next one free, is the next call's
kick(w.g, now(), '')
return 1
"""
)

# 3 this worker, 4 seconds without a heartbeat that make a worker dead -> each
# worker found dead, "name waiters slots" (they are gone now, the next woken)
BEAT = (
    PRELUDE
    + """
local t = now()
redis.call('ZADD', P .. ':workers', t, ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', P .. ':workers', '-inf', t - tonumber(ARGV[4]))
local groups, held = {}, {}
for _, d in ipairs(dead) do
  local n = 0
  for _, raw in ipairs(redis.call('HVALS', P .. ':all')) do
    local w = cjson.decode(raw)
    if w.k == d then drop(w); groups[w.g] = true; n = n + 1 end
  end
  local ws = P .. ':ws:' .. d
  local slots = redis.call('HGETALL', ws)
  table.insert(held, d .. ' ' .. n .. ' ' .. (#slots / 2))
  for i = 1, #slots, 2 do
    local rec = cjson.decode(slots[i + 1])
    redis.call('ZREM', rec[1], slots[i])
    unrun(rec[2])
    groups[rec[3]] = true
  end
  redis.call('DEL', ws)
  redis.call('ZREM', P .. ':workers', d)
end
for g, _ in pairs(groups) do kick(g, t, '') end
return held
"""
)
