-- append.lua: one message to a stream, atomically (server/DESIGN.md "Redis layout").
-- KEYS[1] <prefix>:{<stream>}:log   KEYS[2] <prefix>:{<stream>}:meta
-- ARGV[1] the message's JSON text   ARGV[2] retention (messages kept)
-- ARGV[3] retention_ms (0: none)    ARGV[4] the notify channel   ARGV[5] the stream name
-- Returns the cursor <epoch>-<offset>. A stream whose meta is gone lost its history: it
-- begins a new epoch (Redis TIME in ms) and drops any log left over.
local t = redis.call('TIME')
local now = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = now
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'offset', 0)
end
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
local id = epoch .. '-' .. offset
redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[2], id, 'd', ARGV[1], 't', now)
local max_age = tonumber(ARGV[3])
if max_age > 0 then
  -- entries are in time order: keep from the first one young enough (MINID its ID)
  local cutoff = tonumber(now) - max_age
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first > 0 and tonumber(first[1][2][4]) < cutoff then
    local keep = id
    local from = '-'
    while true do
      local batch = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 100)
      local found = false
      for _, e in ipairs(batch) do
        if tonumber(e[2][4]) >= cutoff then keep = e[1]; found = true; break end
      end
      if found or #batch < 100 then break end
      from = '(' .. batch[#batch][1]
    end
    redis.call('XTRIM', KEYS[1], 'MINID', keep)
  end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return id
