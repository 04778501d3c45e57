"""The cluster queue's take script (``cluster_lua``'s keys): a slot's acquire with
the line's check, the headroom (``headroom.cap``, on the cluster's running counts),
the room's swap order (``cluster_rooms_lua``) and the hand-off's measure folded in,
so a call that needs no queue pays one round trip, as alone."""

from __future__ import annotations

from .cluster_lua import PRELUDE

# 4 slot key, 5 limit, 6 lease, 7 token, 8 worker, 9 owner, 10 weight, 11 model,
# 12 waiter id ('' for a call that did not wait), 13 now (the slots' clock),
# 14 headroom (``headroom.cap``: slots kept for owners with none running),
# 15 the band of a call that did not wait (0 interactive, 1 batch),
# 16 room: the backend when it holds few models ('' none), 17 its cap, 18 when this
# worker read its /api/ps ('' unchanged since it last said), 19.. the models it showed
# -> 1 taken, 0 full, -1 others wait, -2 the waiter's place is gone, -3 not its turn;
# {1, microseconds, same worker 1/0}: taken by a waiter, the slot freed that long ago
TAKE = (
    PRELUDE
    + """
local key, limit, lease, token = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local worker, owner, weight = ARGV[8], ARGV[9], tonumber(ARGV[10])
local group, wid = ARGV[11], ARGV[12]
local clock, H, myband = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local room = ARGV[16]
redis.call('ZREMRANGEBYSCORE', key, '-inf', clock - lease)
local inuse = redis.call('ZCARD', key)
local function slot_for(o)  -- a slot here for owner o (the headroom aside)
  return inuse < fill(limit, H, o)
end
local function idle_waits()  -- a waiter whose owner runs nothing
  for _, raw in ipairs(redis.call('HVALS', P .. ':q:' .. group)) do
    if not redis.call('HGET', P .. ':run', cjson.decode(raw).o) then return true end
  end
  return false
end
if room ~= '' then
  redis.call('HSET', P .. ':cap', room, ARGV[17])
  if ARGV[18] ~= '' and sync(room, tonumber(ARGV[18]), {unpack(ARGV, 19)}) then
    kick_room(room, now(), wid)  -- Ollama unloaded a model: a place is free
  end
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
      and (myband <= band or not slot_for(first.o)) and not idle_waits()
    if not mine then
      if slot_for(first.o) then
        redis.call('PUBLISH', P .. ':wake:' .. first.k, 'w ' .. first.id)
      end
      return -1
    end
  end
  -- calls of other models wait for this room: the line's order decides, unless
  -- this call's model is held and nobody was passed over too long
  if room ~= '' and redis.call('EXISTS', P .. ':rq:' .. room) == 1 then
    local t = now()
    local _, late = chosen(room, t)
    if late or not fits(room, group) then
      kick_startable(room, t, '', key, group, limit, clock - lease)
      return -1
    end
  end
else
  me = head(group, now())
  if not me or me.id ~= wid then
    if redis.call('HEXISTS', P .. ':q:' .. group, wid) == 0 then return -2 end
    if slot_for(me.o) then
      redis.call('PUBLISH', P .. ':wake:' .. me.k, 'w ' .. me.id)
    end
    return -3
  end
  if room ~= '' then  -- across the models waiting for this room
    local t = now()
    local go = chosen(room, t)
    if go and not go[group] then
      kick_startable(room, t, wid, key, group, limit, clock - lease)
      return -3
    end
  end
end
if not slot_for(owner) then return 0 end
if room ~= '' and not enter(room, group, now()) then return 0 end
redis.call('ZADD', key, clock, token)
redis.call('EXPIRE', key, lease)
redis.call('HINCRBY', P .. ':run', owner, 1)
redis.call('HSET', P .. ':ws:' .. worker, token,
  cjson.encode({key, owner, group, room, limit, H}))
local start = me and me.t or turn(owner, weight)  -- a waiter's turn: its own
if start > vclock() then redis.call('HSET', P .. ':vt', '~', start) end
if first then  -- taken before the line: a slot noted for it is this call's
  redis.call('LPOP', freed)
  inuse = inuse + 1
  if slot_for(first.o) then
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
