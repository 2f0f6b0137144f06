-- read.lua: the messages of a stream after a cursor, with the epoch and the retained range
-- of one instant (server/DESIGN.md "Redis layout", README "Cursors").
-- KEYS[1] <prefix>:{<stream>}:log   KEYS[2] <prefix>:{<stream>}:meta
-- ARGV[1] 'head' | 'all' (cursor 0) | the cursor's epoch   ARGV[2] the cursor's offset
-- ARGV[3] limit   ARGV[4] retention_ms (0: none)
-- Returns {'none'} for a stream with no history (head 0-0), {'reset', epoch, offset} when
-- the cursor is of another epoch, fell out of retention or is ahead of the head, else
-- {'ok', epoch, offset, after, id1, json1, id2, json2, …}: the messages after offset
-- `after` (at most limit).
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'offset')
local epoch, offset = meta[1], tonumber(meta[2])
if not epoch then return {'none'} end
local max_age = tonumber(ARGV[4])
if max_age > 0 then
  local t = redis.call('TIME')
  local cutoff = tonumber(t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))) - max_age
  while true do
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    if #first == 0 or tonumber(first[1][2][4]) >= cutoff then break end
    redis.call('XDEL', KEYS[1], first[1][1])
  end
end
if ARGV[1] == 'head' then return {'ok', epoch, offset, offset} end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local floor = offset
if #first > 0 then floor = tonumber(string.match(first[1][1], '%-(%d+)$')) - 1 end
local after
if ARGV[1] == 'all' then
  after = floor
else
  after = tonumber(ARGV[2])
  if ARGV[1] ~= epoch or after < floor or after > offset then
    return {'reset', epoch, offset}
  end
end
local out = {'ok', epoch, offset, after}
if after < offset and tonumber(ARGV[3]) > 0 then
  local entries = redis.call('XRANGE', KEYS[1], '(' .. epoch .. '-' .. after, '+',
                             'COUNT', ARGV[3])
  for _, e in ipairs(entries) do
    out[#out + 1] = e[1]
    out[#out + 1] = e[2][2]
  end
end
return out
