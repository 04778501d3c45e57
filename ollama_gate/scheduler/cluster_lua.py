"""The cluster queue's Redis scripts: each step that reads and changes the queue is one
script, so every worker sees one order and no two steps interleave.

Keys, under ``P`` (``<REDIS_PREFIX>:queue``): ``P:all`` (waiter id -> its record, JSON),
``P:q:<model>`` (the same, one model's), ``P:run`` (owner -> calls running),
``P:vt`` (``~`` -> the virtual clock, owner -> the end of its last turn), ``P:order``,
``P:ws:<worker>`` (a worker's slot tokens -> slot key, owner, model, room),
``P:workers`` (worker -> last heartbeat), and the rooms' (``cluster_rooms_lua``).
A wake-up is a message on ``P:wake:<worker>``: ``w <id>`` (your turn), ``r <id>``
(your place went to another's call). The names are built in the scripts from ``P``
(ARGV[1]): the gateway runs on one Redis, not a Redis Cluster. JOIN, LEAVE and BEAT
are in ``cluster_line_lua``.
"""

from __future__ import annotations

from .cluster_rooms_lua import ROOMS

# ARGV[1] = P, ARGV[2] = BATCH_MAX_WAIT, ARGV[3] = SWAP_MAX_PASS (seconds)
PRELUDE = (
    """
local P, MAXWAIT, MAXPASS = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local function now()  -- Redis' clock: one for every host
  local t = redis.call('TIME'); return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function less(a, b)
  for i = 1, #a do if a[i] ~= b[i] then return a[i] < b[i] end end
  return false
end
-- the fair order: band (batch aged past MAXWAIT is interactive), fewest running
-- per weight, virtual start, arrival
local function fairkey(w, t)
  local band = w.b
  if band > 0 and t - w.s >= MAXWAIT then band = 0 end
  local run = tonumber(redis.call('HGET', P .. ':run', w.o) or '0') / w.w
  return {band, run, w.t, w.n}
end
local function head(group, t)
  local best, bk
  for _, raw in ipairs(redis.call('HVALS', P .. ':q:' .. group)) do
    local w = cjson.decode(raw)
    local k = fairkey(w, t)
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
  for _, r in ipairs(w.r or {}) do redis.call('HDEL', P .. ':rq:' .. r, w.id) end
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
    + ROOMS
)

# 4 slot key, 5 limit, 6 lease, 7 token, 8 worker, 9 owner, 10 weight, 11 model,
# 12 waiter id ('' for a call that did not wait), 13 now (the slots' clock),
# 14 room: the backend when it holds few models ('' none), 15 its cap, 16 when this
# worker read its /api/ps ('' unchanged since it last said), 17.. the models it showed
# -> 1 taken, 0 full, -1 others wait, -2 the waiter's place is gone, -3 not its turn
TAKE = (
    PRELUDE
    + """
local key, limit, lease, token = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local worker, owner, weight = ARGV[8], ARGV[9], tonumber(ARGV[10])
local group, wid = ARGV[11], ARGV[12]
local clock, room = tonumber(ARGV[13]), ARGV[14]
redis.call('ZREMRANGEBYSCORE', key, '-inf', clock - lease)
local free = redis.call('ZCARD', key) < limit
if room ~= '' then
  redis.call('HSET', P .. ':cap', room, ARGV[15])
  if ARGV[16] ~= '' and sync(room, tonumber(ARGV[16]), {unpack(ARGV, 17)}) then
    kick_room(room, now(), wid)  -- Ollama unloaded a model: a place is free
  end
end
local me
-- refused while a slot is free: the first in line is woken, as it may not know it
-- is first (a batch call aged into the interactive band, a running count changed)
if wid == '' then
  if redis.call('EXISTS', P .. ':q:' .. group) == 1 then
    if free then kick(group, now(), '') end
    return -1
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
    if free then redis.call('PUBLISH', P .. ':wake:' .. me.k, 'w ' .. me.id) end
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
if not free then return 0 end
if room ~= '' and not enter(room, group, now()) then return 0 end
redis.call('ZADD', key, clock, token)
redis.call('EXPIRE', key, lease)
redis.call('HINCRBY', P .. ':run', owner, 1)
local rec = cjson.encode({key, owner, group, room})
redis.call('HSET', P .. ':ws:' .. worker, token, rec)
local start = me and me.t or turn(owner, weight)  -- a waiter's turn: its own
if start > vclock() then redis.call('HSET', P .. ':vt', '~', start) end
return 1
"""
)

# 4 slot key, 5 token, 6 worker, 7 model, 8 waiter id not to wake ('' none)
GIVE = (
    PRELUDE
    + """
redis.call('ZREM', ARGV[4], ARGV[5])
local ws = P .. ':ws:' .. ARGV[6]
local rec = redis.call('HGET', ws, ARGV[5])
local t = now()
if rec then
  redis.call('HDEL', ws, ARGV[5])
  rec = cjson.decode(rec)
  unrun(rec[2])
  if rec[4] and rec[4] ~= '' then  -- its room: the model is idle, maybe
    leave(rec[4], rec[3])
    kick_room(rec[4], t, ARGV[8])
  end
end
kick(ARGV[7], t, ARGV[8])
"""
)
