"""The cluster queue's model rooms (``rooms.Rooms``, shared): the Lua functions the
scripts of ``cluster_lua`` use, so what a backend that holds few models holds, and
which call may start there, is one answer for every worker of every host.

Keys, under ``P``: ``P:cap`` (backend -> models it holds at once), ``P:held:<backend>``
(model -> when a call of it last started: the least recently used goes first),
``P:rr:<backend>`` (model -> the gateway's calls of it running there), ``P:swaps``
(backend -> swaps the gateway started), ``P:rq:<backend>`` (waiter id -> record, the
waiters that may run on that backend).

Which call goes (``chosen``), as ``queue.FairQueue`` orders it in one worker: when a
waiter's model is held nowhere it may run and it waited ``SWAP_MAX_PASS`` seconds, the
oldest waiter's model, alone (the backend drains for it); else the models the backend
holds or has a place for; else the fair order's first. Within a model, its line's
first (``head``). A call that did not wait may start only if its model fits and nobody
was passed over too long.
"""

from __future__ import annotations

# needs P, MAXPASS, fairkey, less and kick of cluster_lua's prelude
ROOMS = """
local function running(b, g)
  return tonumber(redis.call('HGET', P .. ':rr:' .. b, g) or '0')
end
local function fits(b, g)
  local c = tonumber(redis.call('HGET', P .. ':cap', b) or '0')
  local h = P .. ':held:' .. b
  return c <= 0 or redis.call('ZSCORE', h, g) or redis.call('ZCARD', h) < c
end
-- the models whose first waiter may start on room b now (nil: nobody waits for
-- it), and whether one was passed over too long
local function chosen(b, t)
  local oldest, best, bk, late, fit, any = nil, nil, nil, false, {}, false
  for _, raw in ipairs(redis.call('HVALS', P .. ':rq:' .. b)) do
    local w = cjson.decode(raw)
    if not oldest or w.n < oldest.n then oldest = w end
    if fit[w.g] == nil then fit[w.g] = fits(b, w.g) and true or false end
    any = any or fit[w.g]
    if not late and t - w.s >= MAXPASS then  -- held nowhere it may run: overdue
      late = true
      for _, r in ipairs(w.r) do
        if fits(r, w.g) then late = false; break end
      end
    end
    local k = fairkey(w, t)
    if not bk or less(k, bk) then best, bk = w, k end
  end
  if not oldest then return nil, false end
  if late then return {[oldest.g] = true}, true end
  if not any then return {[best.g] = true}, false end
  local go = {}
  for g, f in pairs(fit) do if f then go[g] = true end end
  return go, false
end
-- a call refused for b's order wakes the chosen whose call could start on b now
-- (its model's slot there free: ``slot`` is the refused call's, a model's slot key
-- ends with it; its model fits or an idle one gives way); one that could not would
-- be refused, and a refusal on its other backend might wake this one back
local function kick_startable(b, t, skip, slot, group, limit, cutoff)
  if slot:sub(-#group) ~= group then return end
  local base, h = slot:sub(1, #slot - #group), P .. ':held:' .. b
  for g, _ in pairs(chosen(b, t) or {}) do
    local ok = redis.call('ZCOUNT', base .. g, cutoff, '+inf') < limit
    if ok and not fits(b, g) then
      ok = false
      for _, m in ipairs(redis.call('ZRANGE', h, 0, -1)) do
        if running(b, m) <= 0 then ok = true; break end
      end
    end
    if ok then kick(g, t, skip) end
  end
end
local function kick_room(b, t, skip)
  local go = chosen(b, t)
  for g, _ in pairs(go or {}) do kick(g, t, skip) end
end
-- a call of g starts on b: its model held (the least recently used idle one
-- swapped out for it if need be); false when every held model runs
local function enter(b, g, t)
  local h = P .. ':held:' .. b
  local c = tonumber(redis.call('HGET', P .. ':cap', b) or '0')
  if not redis.call('ZSCORE', h, g) and redis.call('ZCARD', h) >= c then
    local idle
    for _, m in ipairs(redis.call('ZRANGE', h, 0, -1)) do
      if running(b, m) <= 0 then idle = m; break end
    end
    if not idle then return false end
    redis.call('ZREM', h, idle)
    redis.call('HINCRBY', P .. ':swaps', b, 1)
  end
  redis.call('ZADD', h, t, g)
  redis.call('HINCRBY', P .. ':rr:' .. b, g, 1)
  return true
end
local function leave(b, g)
  if redis.call('HINCRBY', P .. ':rr:' .. b, g, -1) <= 0 then
    redis.call('HDEL', P .. ':rr:' .. b, g)
  end
end
-- b's /api/ps as a worker read it at ps_at: what Ollama unloaded goes, unless a
-- call of it runs or started after that read (another worker's swap the read
-- predates); what it loaded comes in while there is a place. True when a model
-- went (a waiter of another may fit now)
local function sync(b, ps_at, loaded)
  local h = P .. ':held:' .. b
  local shown = {}
  for _, m in ipairs(loaded) do shown[m] = true end
  local held, gone = redis.call('ZRANGE', h, 0, -1, 'WITHSCORES'), false
  for i = 1, #held, 2 do
    local m = held[i]
    if not shown[m] and tonumber(held[i + 1]) < ps_at and running(b, m) <= 0 then
      redis.call('ZREM', h, m)
      gone = true
    end
  end
  local c = tonumber(redis.call('HGET', P .. ':cap', b) or '0')
  for _, m in ipairs(loaded) do
    if not redis.call('ZSCORE', h, m) and redis.call('ZCARD', h) < c then
      redis.call('ZADD', h, ps_at, m)
    end
  end
  return gone
end
"""
