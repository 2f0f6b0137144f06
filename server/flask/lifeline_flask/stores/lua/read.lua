#!lua
-- read.lua — read a Lifeline stream after a cursor (server/DESIGN.md "Store interface",
-- "Redis layout"), seeing the epoch, the head and the retained range of one instant.
--
-- KEYS[1]  <prefix>:{<stream>}:meta
-- KEYS[2]  <prefix>:{<stream>}:log
-- ARGV[1]  the cursor's first part, decimal without leading zeros ('' : no cursor, from now)
-- ARGV[2]  the cursor's second part, likewise
-- ARGV[3]  limit: most messages returned
-- ARGV[4]  retention_ms: entries older than this count as gone (0: no age limit)
-- Returns {'reset', <head>} — the cursor is too old, of another epoch, or ahead of the head —
-- or {'ok', <cursor>, id1, json1, id2, json2, …}: the messages after the cursor, in order, and
-- the cursor to read on from. A stream with no history has the head '0-0'.
--
-- `#!lua` (no `no-writes` flag): Redis runs it on a primary only; a replica (a failover's old
-- primary, still reachable and perhaps behind or resyncing) answers READONLY, which the stores
-- take as StoreUnavailable — a reader never sees an older state than the one it read before.
--
-- "Too old" is exact: the messages after cursor c are offsets c+1 … head, so unless the first
-- retained entry after c is exactly c+1 (and young enough), something is gone: reset. (After
-- a failover's gap, meta `gap` = g: the entry after g is g + 1 + OFFSET_GAP; see append.lua.)

local meta, log = KEYS[1], KEYS[2]
local hi, lo, max_age = ARGV[1], ARGV[2], tonumber(ARGV[4])
-- XRANGE … COUNT 0 answers nil on Redis 7.0: a limit below 1 reads one entry.
local limit = math.max(1, tonumber(ARGV[3]))

-- Compare two decimal strings without leading zeros (cursor parts reach 2^64, beyond Lua's doubles).
local function less(a, b)
    if #a ~= #b then return #a < #b end
    return a < b
end

local state = redis.call('HMGET', meta, 'epoch', 'offset', 'gap')
local epoch, offset, gap = state[1], state[2], state[3]
if not epoch then
    -- No history (never written, or lost with Redis's data).
    if hi == '' or (hi == '0' and lo == '0') then return {'ok', '0-0'} end
    return {'reset', '0-0'}
end
local head = epoch .. '-' .. offset
if hi == '' then return {'ok', head} end

local cutoff = nil
if max_age > 0 then
    local time = redis.call('TIME')
    cutoff = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) - max_age
end
local function young(entry)
    return cutoff == nil or tonumber(entry[2][4]) >= cutoff
end

local function answer(entries, from_cursor)
    local out = {'ok', from_cursor}
    for _, entry in ipairs(entries) do
        out[#out + 1] = entry[1]
        out[#out + 1] = entry[2][2]
    end
    if #entries > 0 then out[2] = entries[#entries][1] end
    return out
end

if hi == '0' and lo == '0' then
    -- Everything retained: skip what is too old, then up to `limit` entries.
    local from = '-'
    while true do
        local batch = redis.call('XRANGE', log, from, '+', 'COUNT', limit)
        if #batch == 0 then return {'ok', head} end
        local first = nil
        for i, entry in ipairs(batch) do
            if young(entry) then
                first = i
                break
            end
        end
        if first == 1 then return answer(batch, head) end
        if first then
            return answer(redis.call('XRANGE', log, batch[first][1], '+', 'COUNT', limit), head)
        end
        from = '(' .. batch[#batch][1]
    end
end

if hi ~= epoch or less(offset, lo) then return {'reset', head} end
if lo == offset then return {'ok', head} end
local entries = redis.call('XRANGE', log, '(' .. hi .. '-' .. lo, '+', 'COUNT', limit)
-- after a failover's gap (append.lua): the message after the gap's start is OFFSET_GAP + 1 on
local next_offset = tonumber(lo) + 1
if gap and lo == gap then next_offset = next_offset + 1000000000 end
local want = epoch .. '-' .. string.format('%d', next_offset)
if #entries == 0 or entries[1][1] ~= want or not young(entries[1]) then return {'reset', head} end
return answer(entries, head)
