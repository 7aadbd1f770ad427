/**
 * The Lua scripts of the Redis SessionStore (docs/design.md §8.2): one script per store
 * operation, each run atomically by Redis (EVALSHA), so that several relay nodes sharing one Redis
 * keep the promises of session-store.ts: the lowest free nameplate not in quarantine with the
 * session bounds checked in the same step, one claim per nameplate, one socket per role, one
 * counted failure per attempt.
 *
 * Layout under the key prefix P (every name below is P followed by it):
 * - `s:<id>`            hash, one session (fields in `SESSION_FIELDS` of redis-session-store.ts);
 * - `ids`               set of live session ids (the total bound);
 * - `np:<n>`            the session id waiting under nameplate n;
 * - `np:next`           the next never-used nameplate; `np:free` zset of freed ones (score = n);
 *                       `np:quar` zset of quarantined ones (score = release time, ms);
 * - `tokens`, `addresses` hashes: live sessions per token name and per creator address;
 * - `recreated`         set of recreated sessions still waiting for a side;
 * - `deadlines`         zset: each session's next deadline (expiry, claim connect, resume), ms;
 * - channel `deadline`  published when a script makes a deadline the earliest, so every node arms
 *                       its timer for it (no polling);
 * - channel `ended`     published when a session is removed (why, which sides were connected, which
 *                       node's script removed it), so the node holding a socket of it closes it;
 * - `nd:<node>`         set of the sessions with a connected side whose attachment tag names that
 *                       relay node; `nd:nodes` set of the nodes with such a set. Kept by `save` and
 *                       `remove` in every script, so the `sweep` of a dead node finds its sessions.
 * Scripts compute session keys from the prefix, so this layout needs one Redis (or a primary with
 * replicas), not Redis Cluster.
 *
 * Every script gets ARGV[1] = prefix, ARGV[2] = now (ms), ARGV[3] = the quarantine clock (ms),
 * ARGV[4] = the policy (JSON), ARGV[5] = the operation's arguments (JSON), ARGV[6] = the calling
 * store instance's random id, and answers JSON.
 * Digests arrive as hex; they are digests of keys (session-keys.ts), never keys: comparing them
 * with `==` leaks at most a digest's prefix, which does not help anyone forge a key.
 * Inputs: produced by the relay after validation (trusted).
 */

const HELPERS = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local qnow = tonumber(ARGV[3])
local pol = cjson.decode(ARGV[4])
local a = cjson.decode(ARGV[5])
-- Which store instance (relay node) runs the script: named in what it publishes, so that node ignores its own news.
local origin = ARGV[6] or ''

local function skey(id) return P .. 's:' .. id end

local function load(id)
  local flat = redis.call('HGETALL', skey(id))
  if #flat == 0 then return nil end
  local s = {}
  for i = 1, #flat, 2 do s[flat[i]] = flat[i + 1] end
  return s
end

-- The node holding a socket, from its attachment tag ('<node> <random>', attachment-tag.ts); nil for a single node's tag.
local function tag_node(tag)
  if not tag or tag == '' then return nil end
  return string.match(tag, '^(https?://%S+) [%w_%-]+$')
end

-- The nodes holding a connected side of a session (a set), from its ca, cc, ta, tc.
local function holders(ca, cc, ta, tc)
  local held = {}
  if ca == '1' then local n = tag_node(ta); if n then held[n] = true end end
  if cc == '1' then local n = tag_node(tc); if n then held[n] = true end end
  return held
end

-- The per-node index (nd:<node>, nd:nodes): a session is in nd:<node> while a connected side's tag names that node.
local function reindex(id, before, after)
  for n in pairs(before) do
    if not after[n] then
      redis.call('SREM', P .. 'nd:' .. n, id)
      if redis.call('SCARD', P .. 'nd:' .. n) == 0 then redis.call('SREM', P .. 'nd:nodes', n) end
    end
  end
  for n in pairs(after) do
    if not before[n] then
      redis.call('SADD', P .. 'nd:' .. n, id)
      redis.call('SADD', P .. 'nd:nodes', n)
    end
  end
end

-- The holders of a session as stored now (before a save or a removal changes them).
local function stored_holders(id)
  local f = redis.call('HMGET', skey(id), 'ca', 'cc', 'ta', 'tc')
  return holders(f[1], f[2], f[3], f[4])
end

local function save(s)
  reindex(s.id, stored_holders(s.id), holders(s.ca, s.cc, s.ta, s.tc))
  local args = {}
  for k, v in pairs(s) do
    args[#args + 1] = k
    args[#args + 1] = tostring(v)
  end
  redis.call('HSET', skey(s.id), unpack(args))
end

local function copy(s)
  local c = {}
  for k, v in pairs(s) do c[k] = v end
  return c
end

local function num(v) return tonumber(v) or 0 end

local function hdecr(key, field)
  if redis.call('HINCRBY', key, field, -1) <= 0 then redis.call('HDEL', key, field) end
end

-- Nameplates (nameplate-pool.ts in Redis): quarantined ones whose time is over become free;
-- the lowest free one is taken, else the next never used, else the oldest in quarantine.
local function allocate()
  local due = redis.call('ZRANGEBYSCORE', P .. 'np:quar', '-inf', qnow - pol.nameplateQuarantineMs)
  for _, n in ipairs(due) do
    redis.call('ZREM', P .. 'np:quar', n)
    redis.call('ZADD', P .. 'np:free', n, n)
  end
  local popped = redis.call('ZPOPMIN', P .. 'np:free')
  if #popped > 0 then return popped[1] end
  local nxt = tonumber(redis.call('GET', P .. 'np:next') or '1')
  if nxt <= pol.maxNameplate then
    redis.call('SET', P .. 'np:next', nxt + 1)
    return tostring(nxt)
  end
  local oldest = redis.call('ZPOPMIN', P .. 'np:quar')
  if #oldest > 0 then return oldest[1] end
  return nil
end

local function release(s)
  if s.np == '' then return end
  local n = s.np
  s.np = ''
  redis.call('DEL', P .. 'np:' .. n)
  if pol.nameplateQuarantineMs == 0 or pol.quarantineCapacity == 0 then
    redis.call('ZADD', P .. 'np:free', n, n)
    return
  end
  if redis.call('ZCARD', P .. 'np:quar') >= pol.quarantineCapacity then
    local early = redis.call('ZPOPMIN', P .. 'np:quar')
    if #early > 0 then redis.call('ZADD', P .. 'np:free', early[1], early[1]) end
  end
  redis.call('ZADD', P .. 'np:quar', qnow, n)
end

-- The session's next deadline: its end, its resume deadline, its claim's connect deadline.
local function schedule(s)
  local d = num(s.ex)
  if s.rb ~= '' and num(s.rb) < d then d = num(s.rb) end
  if s.state == 'claimed' and s.ct == '1' and num(s.cby) < d then d = num(s.cby) end
  local first = redis.call('ZRANGE', P .. 'deadlines', 0, 0, 'WITHSCORES')
  redis.call('ZADD', P .. 'deadlines', d, s.id)
  if #first == 0 or d < tonumber(first[2]) then redis.call('PUBLISH', P .. 'deadline', tostring(d)) end
end

local function stop_waiting(s)
  if s.rwt == '1' then
    s.rwt = '0'
    redis.call('SREM', P .. 'recreated', s.id)
  end
end

-- Remove a session and tell every node (channel 'ended'), so the node holding a socket of it closes that socket.
local function remove(s, why)
  redis.call('PUBLISH', P .. 'ended', cjson.encode({ id = s.id, why = why, origin = origin, agent = s.ca, client = s.cc }))
  reindex(s.id, stored_holders(s.id), {})
  redis.call('DEL', skey(s.id))
  redis.call('SREM', P .. 'ids', s.id)
  redis.call('ZREM', P .. 'deadlines', s.id)
  stop_waiting(s)
  release(s)
  s.rb = ''
  if s.rc == '1' then return end
  if s.htn == '1' then hdecr(P .. 'tokens', s.tn) end
  hdecr(P .. 'addresses', s.ad)
end

local function count_attempt(s, reason)
  s.att = num(s.att) + 1
  s.ckd = ''
  s.cact = ''
  s.cby = ''
  s.ct = '0'
  s.cc = '0'
  local destroyed = s.att >= pol.maxPairingAttempts
  if destroyed then
    remove(s, 'attempts_exhausted')
  else
    s.state = 'waiting'
    save(s)
    schedule(s)
  end
  return { session = s, reason = reason, attempts = s.att, destroyed = destroyed }
end

local function limit_error(limit, detail) return cjson.encode({ limit = limit, detail = detail }) end
`;

/** The body of each operation, run after HELPERS. */
const OPERATIONS = {
  create: `
if redis.call('SCARD', P .. 'ids') >= pol.maxSessions then
  return limit_error('sessions_total', pol.maxSessions .. ' live sessions')
end
if a.htn == '1' and num(redis.call('HGET', P .. 'tokens', a.tn)) >= pol.maxSessionsPerToken then
  return limit_error('sessions_per_token', 'token "' .. a.tn .. '" has ' .. pol.maxSessionsPerToken .. ' live sessions')
end
if num(redis.call('HGET', P .. 'addresses', a.ad)) >= pol.maxSessionsPerAddress then
  return limit_error('sessions_per_address', 'this address has ' .. pol.maxSessionsPerAddress .. ' live sessions')
end
if redis.call('EXISTS', skey(a.id)) == 1 then return cjson.encode({ collision = true }) end
local np = allocate()
if np == nil then return limit_error('sessions_total', 'no free nameplate') end
local s = {
  id = a.id, np = np, state = 'waiting', akd = a.akd, ckd = '', cact = '', cby = '', ct = '0', att = '0',
  act = a.act, tn = a.tn, htn = a.htn, ad = a.ad, cat = now, ex = now + pol.unpairedTtlMs, kx = a.kx,
  ca = '0', cc = '0', ta = '', tc = '', rw = '0', rb = '', rc = '0', rwt = '0',
}
save(s)
redis.call('SADD', P .. 'ids', s.id)
redis.call('SET', P .. 'np:' .. np, s.id)
if a.htn == '1' then redis.call('HINCRBY', P .. 'tokens', a.tn, 1) end
redis.call('HINCRBY', P .. 'addresses', a.ad, 1)
schedule(s)
return cjson.encode({ session = s })
`,
  get: `
local s = load(a.id)
if s == nil then return cjson.encode({}) end
return cjson.encode({ session = s })
`,
  /** First half of a claim: which session waits under the nameplate (its key is made from it). */
  claimFind: `
local id = redis.call('GET', P .. 'np:' .. a.np)
if not id then return cjson.encode({ unknown = true }) end
local s = load(id)
if s == nil or s.state == 'established' then return cjson.encode({ unknown = true }) end
if s.state == 'claimed' then return cjson.encode({ busy = true }) end
return cjson.encode({ id = s.id, kx = s.kx })
`,
  /** Second half: take it, only if the same session still waits there (else busy or unknown). */
  claimTake: `
local id = redis.call('GET', P .. 'np:' .. a.np)
if id ~= a.id then return cjson.encode({ unknown = true }) end
local s = load(id)
if s == nil or s.state == 'established' then return cjson.encode({ unknown = true }) end
if s.state == 'claimed' then return cjson.encode({ busy = true }) end
s.state = 'claimed'
s.ckd = a.ckd
s.cact = a.cact
s.cby = now + pol.claimConnectTimeoutMs
s.ct = '1'
save(s)
schedule(s)
return cjson.encode({ session = s })
`,
  attach: `
local s = load(a.id)
if s == nil then return cjson.encode({ result = 'gone' }) end
if a.role == 'client' then
  if a.kd == '' then return cjson.encode({ result = 'gone' }) end
  if s.ckd == '' and s.rc == '1' then
    s.ckd = a.kd
    s.cact = s.act
    s.cby = now
  elseif s.ckd == '' or s.ckd ~= a.kd then
    return cjson.encode({ result = 'gone' })
  end
else
  if s.akd == '' then
    if a.kd == '' then return cjson.encode({ result = 'gone' }) end
    s.akd = a.kd
  elseif a.kd ~= '' and a.kd ~= s.akd then
    return cjson.encode({ result = 'gone' })
  end
end
local c = a.role == 'agent' and 'ca' or 'cc'
local t = a.role == 'agent' and 'ta' or 'tc'
-- The other side as it stands at this atomic step (docs/design.md §8.2 "Concurrent attaches").
local other = ''
if s[a.role == 'agent' and 'cc' or 'ca'] == '1' then other = s[a.role == 'agent' and 'tc' or 'ta'] or '' end
if s[c] == '1' then
  if s.state == 'established' then
    s[t] = a.tag
    save(s)
    return cjson.encode({ result = 'replaced', other = other })
  end
  save(s)
  return cjson.encode({ result = 'already_connected', other = other })
end
s[c] = '1'
s[t] = a.tag
if a.role == 'client' then s.ct = '0' end
if s.ca == '1' and s.cc == '1' then
  s.rb = ''
  stop_waiting(s)
end
save(s)
schedule(s)
return cjson.encode({ result = 'attached', other = other })
`,
  detach: `
local s = load(a.id)
if s == nil then return cjson.encode({}) end
local c = a.role == 'agent' and 'ca' or 'cc'
local t = a.role == 'agent' and 'ta' or 'tc'
if a.tag ~= '' and s[t] ~= a.tag then return cjson.encode({ stale = true }) end
s[c] = '0'
-- A pairing client handed over to another node: its claim's connect deadline runs again (session-store.ts).
local rearm = a.ho == '1' and a.role == 'client' and s.state == 'claimed' and s.ckd ~= '' and s.ct ~= '1'
if rearm then s.ct = '1' end
save(s)
if rearm then schedule(s) end
return cjson.encode({})
`,
  suspend: `
local s = load(a.id)
if s == nil or s.state ~= 'established' or num(s.rw) == 0 then return cjson.encode({}) end
if num(s.ex) <= now then return cjson.encode({}) end
local c = a.role == 'agent' and 'ca' or 'cc'
local t = a.role == 'agent' and 'ta' or 'tc'
-- A newer socket of this side took over (maybe on another node): this socket's end changes nothing.
if a.tag ~= '' and s[t] ~= a.tag then return cjson.encode({ session = s, stale = true }) end
s[c] = '0'
if s.rb == '' then s.rb = math.min(now + num(s.rw), num(s.ex)) end
save(s)
schedule(s)
return cjson.encode({ session = s })
`,
  setResumeWindow: `
local s = load(a.id)
if s == nil or s.state ~= 'established' then return cjson.encode({}) end
s.rw = math.max(0, math.min(a.windowMs, pol.maxResumeWindowMs))
save(s)
return cjson.encode({ session = s })
`,
  recreate: `
local existing = load(a.id)
if existing ~= nil then return cjson.encode({ session = existing, created = false }) end
if redis.call('SCARD', P .. 'ids') >= pol.maxSessions then
  return limit_error('sessions_total', pol.maxSessions .. ' live sessions')
end
if redis.call('SCARD', P .. 'recreated') >= pol.maxRecreatedWaiting then
  return limit_error('recreated_waiting', pol.maxRecreatedWaiting .. ' recreated sessions wait for their other side')
end
local ex = math.min(a.kx, now + pol.establishedLifetimeMs)
local client = a.role == 'client'
local s = {
  id = a.id, np = '', state = 'established', akd = client and '' or a.kd, ckd = client and a.kd or '',
  cact = client and a.act or '', cby = client and now or '', ct = '0', att = '0',
  act = a.act, tn = '', htn = '0', ad = a.ad, cat = now, ex = ex, kx = a.kx,
  ca = '0', cc = '0', ta = '', tc = '', rw = pol.maxResumeWindowMs, rb = math.min(now + pol.maxResumeWindowMs, ex), rc = '1', rwt = '1',
}
save(s)
redis.call('SADD', P .. 'ids', s.id)
redis.call('SADD', P .. 'recreated', s.id)
schedule(s)
return cjson.encode({ session = s, created = true })
`,
  endAttempt: `
local s = load(a.id)
if s == nil or s.state ~= 'claimed' or s.ckd == '' or s.ckd ~= a.ckd then return cjson.encode({}) end
return cjson.encode({ outcome = count_attempt(s, a.reason) })
`,
  establish: `
local s = load(a.id)
if s == nil or s.state ~= 'claimed' or s.ca ~= '1' or s.cc ~= '1' then return cjson.encode({}) end
s.state = 'established'
release(s)
local lifetime = math.max(0, math.min(pol.establishedLifetimeMs, num(s.kx) - now))
s.ex = now + lifetime
save(s)
schedule(s)
return cjson.encode({ session = s })
`,
  destroy: `
local s = load(a.id)
if s == nil then return cjson.encode({}) end
remove(s, 'destroyed')
return cjson.encode({ session = s })
`,
  counts: `
local counts = { waiting = 0, claimed = 0, established = 0, suspended = 0, resumable = 0 }
for _, id in ipairs(redis.call('SMEMBERS', P .. 'ids')) do
  local f = redis.call('HMGET', skey(id), 'state', 'rb', 'rw')
  if f[1] then
    counts[f[1]] = counts[f[1]] + 1
    if f[2] ~= '' then counts.suspended = counts.suspended + 1 end
    if f[1] == 'established' and num(f[3]) > 0 then counts.resumable = counts.resumable + 1 end
  end
end
counts.recreatedWaiting = redis.call('SCARD', P .. 'recreated')
return cjson.encode(counts)
`,
  /**
   * Process up to a.limit deadlines that are due: each session is removed (resume window passed,
   * or its end reached) or its claim's attempt counted, exactly once across all nodes. Answers the
   * events, and the earliest deadline left.
   */
  due: `
local events = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', now, 'LIMIT', 0, a.limit)) do
  local s = load(id)
  if s == nil then
    redis.call('ZREM', P .. 'deadlines', id)
  elseif s.rb ~= '' and num(s.rb) <= now then
    local last = copy(s)
    remove(s, 'resume_expired')
    events[#events + 1] = { kind = 'resumeExpired', session = last }
  elseif num(s.ex) <= now then
    local last = copy(s)
    remove(s, 'expired')
    events[#events + 1] = { kind = 'expired', session = last }
  elseif s.state == 'claimed' and s.ct == '1' and num(s.cby) <= now then
    events[#events + 1] = { kind = 'attemptEnded', outcome = count_attempt(s, 'connect_timeout') }
  else
    redis.call('ZREM', P .. 'deadlines', id)
    schedule(s)
  end
end
local first = redis.call('ZRANGE', P .. 'deadlines', 0, 0, 'WITHSCORES')
return cjson.encode({ events = events, next = first[2] or '' })
`,
  /**
   * Sweep the sessions of relay nodes whose connection lease has ended (docs/design.md §8.2
   * "Dead nodes"): for each node in nd:nodes other than a.self whose lease in cn:nodes has ended
   * by Redis's clock (redis-limits.ts), each side of its sessions that is connected with a tag
   * naming it gets what a socket's end on that node would have brought: an established side is
   * suspended (its resume deadline starts; a session without a resume window ends, as when a side
   * leaves); a pairing client is marked gone with its claim's connect deadline running again,
   * unchanged; a pairing agent's session ends (as when the agent leaves: the offer is withdrawn).
   * At most a.limit sessions per run. Each session leaves the node's index as it is swept, in the
   * same atomic step, so two nodes sweeping at once never sweep one twice. Ends are published on
   * `ended` with the origin 'sweep', so every node (the sweeping one too) closes what it holds.
   */
  sweep: `
origin = 'sweep'
local t = redis.call('TIME')
local rnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local budget = tonumber(a.limit)
local swept = {}
local only = nil
if type(a.only) == 'table' then
  only = {}
  for _, node in ipairs(a.only) do only[node] = true end
end
for _, node in ipairs(redis.call('SMEMBERS', P .. 'nd:nodes')) do
  if budget <= 0 then break end
  local lease = redis.call('ZSCORE', P .. 'cn:nodes', node)
  if node ~= a.self and (only == nil or only[node]) and not (lease and tonumber(lease) > rnow) then
    local idx = P .. 'nd:' .. node
    local r = { node = node, suspended = 0, released = 0, ended = {}, left = 0 }
    for _, id in ipairs(redis.call('SRANDMEMBER', idx, budget)) do
      budget = budget - 1
      local s = load(id)
      if s ~= nil then
        local gone = false
        for _, role in ipairs({ 'agent', 'client' }) do
          local c = role == 'agent' and 'ca' or 'cc'
          local tg = role == 'agent' and 'ta' or 'tc'
          if not gone and s[c] == '1' and tag_node(s[tg]) == node then
            if s.state == 'established' then
              if num(s.rw) > 0 and num(s.ex) > now then
                s[c] = '0'
                if s.rb == '' then s.rb = math.min(now + num(s.rw), num(s.ex)) end
                r.suspended = r.suspended + 1
              else
                remove(s, 'destroyed')
                gone = true
                r.ended[#r.ended + 1] = { id = id, reason = role == 'agent' and 'agent_left' or 'client_left' }
              end
            elseif role == 'client' then
              s[c] = '0'
              if s.state == 'claimed' and s.ckd ~= '' and s.ct ~= '1' then s.ct = '1' end
              r.released = r.released + 1
            else
              remove(s, 'destroyed')
              gone = true
              r.ended[#r.ended + 1] = { id = id, reason = 'agent_left' }
            end
          end
        end
        if not gone then
          save(s)
          schedule(s)
        end
      end
      redis.call('SREM', idx, id)
    end
    r.left = redis.call('SCARD', idx)
    if r.left == 0 then redis.call('SREM', P .. 'nd:nodes', node) end
    swept[#swept + 1] = r
  end
end
return cjson.encode({ swept = swept })
`,

  /**
   * The nodes holding sessions (nd:nodes) without a live lease, but \`self\`: read only. The
   * sweep takes a node for dead only once it has stayed here for a whole lease (node-sweep.ts):
   * right after Redis lost its data, or came back after an outage longer than the lease, live
   * nodes are here too until their next renewal.
   */
  leaseless: `
local t = redis.call('TIME')
local rnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes = {}
for _, node in ipairs(redis.call('SMEMBERS', P .. 'nd:nodes')) do
  local lease = redis.call('ZSCORE', P .. 'cn:nodes', node)
  if node ~= a.self and not (lease and tonumber(lease) > rnow) then nodes[#nodes + 1] = node end
end
if #nodes == 0 then return '{"nodes":[]}' end
return cjson.encode({ nodes = nodes })
`,
} as const;

export type SessionScriptName = keyof typeof OPERATIONS;

/** The full text of each operation's script. */
export const SESSION_SCRIPTS: Readonly<Record<SessionScriptName, string>> = Object.freeze(
  Object.fromEntries(Object.entries(OPERATIONS).map(([name, body]) => [name, `${HELPERS}\n${body}`])) as Record<SessionScriptName, string>,
);
