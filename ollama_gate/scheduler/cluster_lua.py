"""The cluster queue's Redis scripts: each step that reads and changes the queue is one
script, so every worker sees one order and no two steps interleave.

Keys, under ``P`` (``<REDIS_PREFIX>:queue``): ``P:all`` (waiter id -> its record, JSON),
``P:q:<model>`` (the same, one model's), ``P:run`` (owner -> calls running),
``P:vt`` (``~`` -> the virtual clock, owner -> the end of its last turn), ``P:order``,
``P:ws:<worker>`` (a worker's slot tokens -> slot key, owner, model, room, limit,
headroom: ``{key, owner, group, room, limit, H}``, room '' for none), ``P:workers``
(worker -> last heartbeat), ``P:freed:<slot key>`` (slots freed for a waiter, not
yet taken: Redis' time and the worker that freed each), and the rooms'
(``cluster_rooms_lua``). A wake-up is a message on ``P:wake:<worker>``: ``w <id>``
(your turn), ``r <id>`` (your place went to another's call). The names are built in
the scripts from ``P`` (ARGV[1]): the gateway runs on one Redis, not a Redis Cluster.
TAKE is in ``cluster_take_lua``; JOIN, LEAVE and BEAT are in ``cluster_line_lua``.
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

# 4 slot key, 5 token, 6 worker, 7 model, 8 waiter id not to wake ('' none)
# A slot freed that the first in line may take (the headroom aside) is noted with
# Redis' time and this worker in P:freed:<slot key>: the take that grants it to a
# waiter measures the hand-off on the same clock, whichever host it runs on.
GIVE = (
    PRELUDE
    + """
local key = ARGV[4]
redis.call('ZREM', key, ARGV[5])
local ws = P .. ':ws:' .. ARGV[6]
local rec = redis.call('HGET', ws, ARGV[5])
local t = now()
if rec then
  redis.call('HDEL', ws, ARGV[5])
  rec = cjson.decode(rec)  -- {key, owner, group, room, limit, H}
  unrun(rec[2])
  if rec[4] and rec[4] ~= '' then  -- its room: the model is idle, maybe
    leave(rec[4], rec[3])
    kick_room(rec[4], t, ARGV[8])
  end
end
local w = kick(ARGV[7], t, ARGV[8])
if w and rec and rec[5] and w.id ~= ARGV[8] then
  local limit = rec[5]
  if redis.call('ZCARD', key) < fill(limit, rec[6], w.o) then
    local freed = P .. ':freed:' .. key
    redis.call('RPUSH', freed, string.format('%.0f', micros()) .. ' ' .. ARGV[6])
    redis.call('LTRIM', freed, -limit, -1)  -- no more are free than there are slots
    redis.call('EXPIRE', freed, 60)
  end
end
"""
)
