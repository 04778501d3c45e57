"""The cluster queue's scripts that change the line itself (``cluster_lua``'s keys):
a call joins it, leaves it, and a worker's heartbeat sweeps away the dead workers'
waiters and slots. Each wakes whoever may go next: the first of the model's line, and
for a backend that holds few models, the first of each model that may start there
(``cluster_rooms_lua.chosen``)."""

from __future__ import annotations

from .cluster_lua import PRELUDE

# 4 the waiter's record (JSON, without since, start and order), 5 its owner,
# 6 weight, 7.. ids of waiters that give their place to it -> {1 if it is first}
JOIN = (
    PRELUDE
    + """
local t = now()
for i = 7, #ARGV do
  local raw = redis.call('HGET', P .. ':all', ARGV[i])
  if raw then
    local w = cjson.decode(raw)
    drop(w)
    redis.call('PUBLISH', P .. ':wake:' .. w.k, 'r ' .. w.id)
    kick(w.g, t, '')
    for _, r in ipairs(w.r or {}) do kick_room(r, t, '') end
  end
end
local me = cjson.decode(ARGV[4])
me.s, me.t = t, turn(ARGV[5], tonumber(ARGV[6]))
me.n = redis.call('INCR', P .. ':order')
local raw = cjson.encode(me)
redis.call('HSET', P .. ':all', me.id, raw)
redis.call('HSET', P .. ':q:' .. me.g, me.id, raw)
for _, r in ipairs(me.r or {}) do redis.call('HSET', P .. ':rq:' .. r, me.id, raw) end
local first = head(me.g, t)
return first.id == me.id and 1 or 0
"""
)

# 4 waiter id -> 1 when it was still waiting
LEAVE = (
    PRELUDE
    + """
local raw = redis.call('HGET', P .. ':all', ARGV[4])
if not raw then return 0 end
local w = cjson.decode(raw)
local t = now()
drop(w)
-- the next is woken whether or not this one was first: a call just granted may
-- no longer count as first (its owner runs one more), and the slot it did not
-- need, or the next one free, is the next call's; in its rooms, the call passed
-- over too long may have been this one
kick(w.g, t, '')
for _, r in ipairs(w.r or {}) do kick_room(r, t, '') end
return 1
"""
)

# 4 this worker, 5 seconds without a heartbeat that make a worker dead -> each
# worker found dead, "name waiters slots" (they are gone now, the next woken)
BEAT = (
    PRELUDE
    + """
local t = now()
redis.call('ZADD', P .. ':workers', t, ARGV[4])
local dead = redis.call('ZRANGEBYSCORE', P .. ':workers', '-inf', t - tonumber(ARGV[5]))
local groups, rooms, held = {}, {}, {}
for _, d in ipairs(dead) do
  local n = 0
  for _, raw in ipairs(redis.call('HVALS', P .. ':all')) do
    local w = cjson.decode(raw)
    if w.k == d then
      drop(w); groups[w.g] = true; n = n + 1
      for _, r in ipairs(w.r or {}) do rooms[r] = true end
    end
  end
  local ws = P .. ':ws:' .. d
  local slots = redis.call('HGETALL', ws)
  table.insert(held, d .. ' ' .. n .. ' ' .. (#slots / 2))
  for i = 1, #slots, 2 do
    local rec = cjson.decode(slots[i + 1])
    redis.call('ZREM', rec[1], slots[i])
    unrun(rec[2])
    groups[rec[3]] = true
    if rec[4] and rec[4] ~= '' then leave(rec[4], rec[3]); rooms[rec[4]] = true end
  end
  redis.call('DEL', ws)
  redis.call('ZREM', P .. ':workers', d)
end
for g, _ in pairs(groups) do kick(g, t, '') end
for r, _ in pairs(rooms) do kick_room(r, t, '') end
return held
"""
)
