package queue

import "github.com/redis/go-redis/v9"

// The Redis store's scripts. Each runs atomically on the server, so an
// event, its index entries and its dedupe mark change together, and the
// AOF holds each script's writes as one transaction.
//
// A lease is "<stream entry id>/<delivery count>": the entry must still be
// pending for this consumer with that count (XAUTOCLAIM raises the count,
// so an expired lease taken over, even by the same consumer, is lost).

// luaOwned checks the lease ARGV[2]/ARGV[3] of consumer ARGV[1] on stream
// KEYS[1], group "hookguard".
const luaOwned = `
local function owned(stream, consumer, sid, count)
  local p = redis.call('XPENDING', stream, 'hookguard', sid, sid, 1, consumer)
  return p[1] ~= nil and tostring(p[1][4]) == count
end
`

// enqueueScript: KEYS mark, events, stream, pendingz, pending, seq, routes;
// ARGV record, enqueued ms, max events, route.
// Reply {0, id} stored, {1, mark} duplicate, {2} full.
var enqueueScript = redis.NewScript(`
local m = redis.call('GET', KEYS[1])
if m then return {1, m} end
if tonumber(redis.call('GET', KEYS[5]) or '0') >= tonumber(ARGV[3]) then return {2} end
local id = tostring(redis.call('INCR', KEYS[6]))
redis.call('HSET', KEYS[2], id, ARGV[1])
redis.call('XADD', KEYS[3], '*', 'id', id)
redis.call('ZADD', KEYS[4], ARGV[2], id)
redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[1], 'q:' .. id)
redis.call('SADD', KEYS[7], ARGV[4])
return {0, id}
`)

// takeScript: KEYS stream, delay, events; ARGV consumer, now ms, n, lease
// ms, XAUTOCLAIM cursor. It moves due retries into the stream, takes over
// entries idle longer than the lease, then reads new ones.
// Reply {cursor, {sid, count, id, record}...}.
var takeScript = redis.NewScript(`
redis.pcall('XGROUP', 'CREATE', KEYS[1], 'hookguard', '0', 'MKSTREAM')
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'id', id)
  redis.call('ZREM', KEYS[2], id)
end
local n = tonumber(ARGV[3])
local out = {}
local function add(e, count)
  if not e or not e[2] then return end
  local id = e[2][2]
  local rec = redis.call('HGET', KEYS[3], id)
  if not rec then
    redis.call('XACK', KEYS[1], 'hookguard', e[1])
    redis.call('XDEL', KEYS[1], e[1])
    return
  end
  table.insert(out, {e[1], count, id, rec})
end
local c = redis.call('XAUTOCLAIM', KEYS[1], 'hookguard', ARGV[1], ARGV[4], ARGV[5], 'COUNT', n)
for _, e in ipairs(c[2]) do
  if e and e[1] then
    local p = redis.call('XPENDING', KEYS[1], 'hookguard', e[1], e[1], 1)
    if p[1] then add(e, tostring(p[1][4])) end
  end
end
if #out < n then
  local r = redis.call('XREADGROUP', 'GROUP', 'hookguard', ARGV[1], 'COUNT', n - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do add(e, '1') end
  end
end
return {c[1], out}
`)

// resumeScript: KEYS stream; ARGV consumer, n. Up to n entries pending for
// consumer (left by its previous process) go back to the end of the stream
// as new entries. Reply: how many.
var resumeScript = redis.NewScript(`
redis.pcall('XGROUP', 'CREATE', KEYS[1], 'hookguard', '0', 'MKSTREAM')
local p = redis.call('XPENDING', KEYS[1], 'hookguard', '-', '+', tonumber(ARGV[2]), ARGV[1])
for _, e in ipairs(p) do
  local entry = redis.call('XRANGE', KEYS[1], e[1], e[1])
  if entry[1] then
    redis.call('XADD', KEYS[1], '*', unpack(entry[1][2]))
  end
  redis.call('XACK', KEYS[1], 'hookguard', e[1])
  redis.call('XDEL', KEYS[1], e[1])
end
return #p
`)

// ackScript: KEYS stream, events, pendingz, pending, mark; ARGV consumer,
// sid, count, id, dedupe ttl ms. Reply 1 done, 0 lease lost.
var ackScript = redis.NewScript(luaOwned + `
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], 'hookguard', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[4])
if redis.call('ZREM', KEYS[3], ARGV[4]) == 1 then redis.call('DECR', KEYS[4]) end
local m = redis.call('GET', KEYS[5])
if not m or m == 'q:' .. ARGV[4] then
  redis.call('SET', KEYS[5], 'd', 'PX', ARGV[5])
end
return 1
`)

// retryScript: KEYS stream, events, delay; ARGV consumer, sid, count, id,
// record, next ms. Reply 1 done, 0 lease lost.
var retryScript = redis.NewScript(luaOwned + `
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], 'hookguard', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[4])
return 1
`)

// deadScript: KEYS stream, events, dead, pendingz, pending, deadidx; ARGV
// consumer, sid, count, id, record, dead ms, route. Reply 1 done, 0 lease
// lost.
var deadScript = redis.NewScript(luaOwned + `
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], 'hookguard', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[4])
if redis.call('ZREM', KEYS[4], ARGV[4]) == 1 then redis.call('DECR', KEYS[5]) end
redis.call('HSET', KEYS[6], ARGV[4], ARGV[7])
return 1
`)

// replayScript: KEYS events, dead, deadidx, stream, pendingz, pending; ARGV
// id, record, enqueued ms, max events. Reply 1 done, 0 not dead, 2 full.
var replayScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
if tonumber(redis.call('GET', KEYS[6]) or '0') >= tonumber(ARGV[4]) then return 2 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[4], '*', 'id', ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
redis.call('INCR', KEYS[6])
return 1
`)

// dropScript: KEYS events, dead, deadidx, mark; ARGV id. Reply 1 done, 0
// not dead.
var dropScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[4]) == 'q:' .. ARGV[1] then redis.call('DEL', KEYS[4]) end
return 1
`)

// statsScript: KEYS stream, delay, dead, pendingz. Reply {stream length,
// pending entries, retrying, dead, oldest enqueued ms or -1}.
var statsScript = redis.NewScript(`
local pending = 0
local s = redis.pcall('XPENDING', KEYS[1], 'hookguard')
if type(s) == 'table' and s[1] then pending = s[1] end
local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local o = -1
if oldest[2] then o = oldest[2] end
return {redis.call('XLEN', KEYS[1]), pending, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), tostring(o)}
`)
