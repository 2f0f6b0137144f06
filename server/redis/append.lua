-- append.lua — append one message to a Lifeline stream, atomically (server/DESIGN.md
-- "Redis layout"). One script, so that the epoch check, the next offset, the XADD with that
-- explicit ID and the trim are one step: any number of processes append in one total order.
--
-- KEYS[1]  <prefix>:{<stream>}:meta   hash: epoch (ms when the history began), offset (last given)
-- KEYS[2]  <prefix>:{<stream>}:log    stream: ID <epoch>-<offset>, fields d (JSON text), t (ms)
-- ARGV[1]  the message's JSON text
-- ARGV[2]  retention: entries kept (XADD MAXLEN =, exact)
-- ARGV[3]  retention_ms: also drop entries older than this (0: no age limit)
-- ARGV[4]  the notification channel: <prefix>:notify, or <prefix>:{<stream>}:notify on a
--          Redis Cluster (ARGV[7])
-- ARGV[5]  the stream's name (the notification's message)
-- ARGV[6]  stream_ttl: ms without an append after which the log expires; the meta expires
--          twice as late, so a reader's old cursor still meets the epoch and offset and gets
--          an exact reset (0: never expire)
-- ARGV[7]  '1': notify with SPUBLISH (sharded Pub/Sub, Redis Cluster: the channel carries the
--          stream's hash tag, so it lives on the stream's shard), else PUBLISH
-- Returns {cursor "<epoch>-<offset>", replicas}: replicas = this primary's connected replicas
-- (the caller then WAITs for one of them before it acknowledges the append).
--
-- A failover may lose the last appends (asynchronous replication): the promoted replica's
-- meta holds a smaller offset, and the next append would give a lost message's offset out
-- again — a reader that saw the lost message would then skip the new one in silence. So the
-- meta remembers the replication ID of the primary that appended last (`replid`); a primary
-- whose previous replication ID (`master_replid2`, the one it replicated from before its
-- promotion) is that ID is a promoted replica: its first append to the stream skips
-- OFFSET_GAP offsets and records where the gap begins (meta `gap`: the last offset the
-- promoted replica had). A reader at `gap` or before saw only messages that survived, and
-- reads on across the gap (read.lua); a reader beyond it saw messages that were lost (never
-- acknowledged: an acknowledged append waited for a replica) and finds the next offset
-- missing: an exact reset, never a silent gap. A restarted primary keeps or renews its ID
-- without that link: no gap.

local meta, log = KEYS[1], KEYS[2]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
    -- The stream's history begins, or began again after Redis lost it: a new epoch, so no
    -- cursor of the lost history is ever taken for one of this one, and no entry of it stays.
    epoch = string.format('%d', now)
    redis.call('DEL', log)
    redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local info = redis.call('INFO', 'replication')
local replid = string.match(info, 'master_replid:(%x+)')
local replid2 = string.match(info, 'master_replid2:(%x+)')
local replicas = tonumber(string.match(info, 'connected_slaves:(%d+)') or '0')
local last_replid = redis.call('HGET', meta, 'replid')
if last_replid ~= replid then
    if last_replid and last_replid == replid2 then
        -- promoted since the last append: OFFSET_GAP
        redis.call('HSET', meta, 'gap', redis.call('HGET', meta, 'offset'))
        redis.call('HINCRBY', meta, 'offset', 1000000000)
    end
    redis.call('HSET', meta, 'replid', replid)
end
local offset = redis.call('HINCRBY', meta, 'offset', 1)
local id = epoch .. '-' .. string.format('%d', offset)
redis.call('XADD', log, 'MAXLEN', '=', ARGV[2], id, 'd', ARGV[1], 't', string.format('%d', now))

local max_age = tonumber(ARGV[3])
if max_age > 0 then
    -- Age retention: trim up to the first entry young enough (MINID); entries are in time order.
    local cutoff = now - max_age
    local from = '-'
    while true do
        local batch = redis.call('XRANGE', log, from, '+', 'COUNT', 100)
        if #batch == 0 then
            redis.call('XTRIM', log, 'MAXLEN', '=', 0)
            break
        end
        local young = nil
        for _, entry in ipairs(batch) do
            if tonumber(entry[2][4]) >= cutoff then
                young = entry[1]
                break
            end
        end
        if young then
            redis.call('XTRIM', log, 'MINID', '=', young)
            break
        end
        from = '(' .. batch[#batch][1]
    end
end

-- Bounded state: every key of the stream goes after it was idle long enough (each append
-- pushes the expiry back). The meta outlives the log: see ARGV[6].
local ttl = tonumber(ARGV[6] or '0')
if ttl > 0 then
    redis.call('PEXPIRE', log, ttl)
    redis.call('PEXPIRE', meta, 2 * ttl)
else
    redis.call('PERSIST', log)
    redis.call('PERSIST', meta)
end

if ARGV[7] == '1' then
    redis.call('SPUBLISH', ARGV[4], ARGV[5])
else
    redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return {id, replicas}
