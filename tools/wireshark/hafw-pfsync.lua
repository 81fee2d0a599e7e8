-- Wireshark dissector for pfsync version 6 (OpenBSD's state sync) as hafw
-- sends and accepts it, and for hafw's encrypted envelope around it.
-- Layouts and the meaning of each field: docs/sync.md. Debian's Wireshark
-- has no pfsync dissector, so IP protocol 240 otherwise shows as data.
--
--   tshark -X lua_script:tools/wireshark/hafw-pfsync.lua -r sync.pcap -V
--   wireshark -X lua_script:tools/wireshark/hafw-pfsync.lua sync.pcap
--
-- Fields are named pfsync.*: pfsync.action, pfsync.state.id,
-- pfsync.key.src, pfsync.bus.status, pfsync.enc.seq, ... (`tshark -G fields
-- -X lua_script:... | grep pfsync` lists them all).

local p = Proto("pfsync", "pfsync v6 state sync (hafw)")

local ENVELOPE = 0xe6 -- first byte of hafw's encrypted envelope
local VERSION = 6

local actions = {
  [0] = "CLR", [1] = "INS (v5)", [2] = "INS_ACK", [3] = "UPD (v5)", [4] = "UPD_C", [5] = "UPD_REQ",
  [6] = "DEL", [7] = "DEL_C", [8] = "INS_F", [9] = "DEL_F", [10] = "BUS", [11] = "TDB (v5)",
  [12] = "EOF", [13] = "INS", [14] = "UPD", [15] = "TDB",
  [200] = "HAFW_CONFIG", -- hafw's own: a chunk of the primary's configuration (config sync)
}
-- Message size of each action decoded here; others are shown as skipped bytes.
local sizes = { [0] = 20, [2] = 12, [4] = 84, [5] = 12, [6] = 264, [7] = 12, [10] = 12, [13] = 264, [14] = 264,
                [200] = 52 } -- a config chunk's fixed part; its bytes follow in the message
local timeouts = {
  [0] = "tcp.first", "tcp.opening", "tcp.established", "tcp.closing", "tcp.finwait", "tcp.closed",
  "udp.first", "udp.single", "udp.multiple", "icmp.first", "icmp.error", "other.first", "other.single",
  "other.multiple",
}
local families = { [0] = "unset (the state's)", [2] = "IPv4", [24] = "IPv6" }
local directions = { [1] = "in", [2] = "out" }
local bus_status = { [1] = "START", [2] = "END" }
local algorithms = { [1] = "AES-256-GCM" }
local tcp_states = {
  [0] = "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1",
  "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
}
local other_states = { [0] = "NO_TRAFFIC", "SINGLE", "MULTIPLE" }

local f = {
  version = ProtoField.uint8("pfsync.version", "Version"),
  len = ProtoField.uint16("pfsync.len", "Length"),
  cksum = ProtoField.bytes("pfsync.cksum", "Ruleset checksum"),
  action = ProtoField.uint8("pfsync.action", "Action", base.DEC, actions),
  msglen = ProtoField.uint8("pfsync.msglen", "Message length (32-bit words)"),
  count = ProtoField.uint16("pfsync.count", "Count"),
  skipped = ProtoField.bytes("pfsync.skipped", "Skipped messages"),

  st_id = ProtoField.uint64("pfsync.state.id", "State id", base.HEX),
  st_creatorid = ProtoField.uint32("pfsync.state.creatorid", "Creator id", base.HEX),
  st_ifname = ProtoField.string("pfsync.state.ifname", "Interface"),
  st_rule = ProtoField.uint32("pfsync.state.rule", "Rule"),
  st_creation = ProtoField.uint32("pfsync.state.creation", "Age (s)"),
  st_expire = ProtoField.uint32("pfsync.state.expire", "Expires in (s)"),
  st_packets = ProtoField.uint64("pfsync.state.packets", "Packets"),
  st_bytes = ProtoField.uint64("pfsync.state.bytes", "Bytes"),
  st_af = ProtoField.uint8("pfsync.state.af", "Address family", base.DEC, families),
  st_proto = ProtoField.uint8("pfsync.state.proto", "Protocol"),
  st_direction = ProtoField.uint8("pfsync.state.direction", "Direction", base.DEC, directions),
  st_timeout = ProtoField.uint8("pfsync.state.timeout", "Timeout class", base.DEC, timeouts),
  st_flags = ProtoField.uint16("pfsync.state.state_flags", "State flags", base.HEX),

  -- A key with the initiator first, whichever of pf's indexes holds it.
  key_src = ProtoField.ipv4("pfsync.key.src", "Initiator"),
  key_dst = ProtoField.ipv4("pfsync.key.dst", "Responder"),
  key_src6 = ProtoField.ipv6("pfsync.key.src6", "Initiator"),
  key_dst6 = ProtoField.ipv6("pfsync.key.dst6", "Responder"),
  key_sport = ProtoField.uint16("pfsync.key.sport", "Initiator port"),
  key_dport = ProtoField.uint16("pfsync.key.dport", "Responder port"),
  key_rdomain = ProtoField.uint16("pfsync.key.rdomain", "Routing domain"),
  key_af = ProtoField.uint8("pfsync.key.af", "Address family", base.DEC, families),

  peer_seqlo = ProtoField.uint32("pfsync.peer.seqlo", "seqlo"),
  peer_seqhi = ProtoField.uint32("pfsync.peer.seqhi", "seqhi"),
  peer_max_win = ProtoField.uint16("pfsync.peer.max_win", "Largest window"),
  peer_state = ProtoField.uint8("pfsync.peer.state", "State"),
  peer_wscale = ProtoField.uint8("pfsync.peer.wscale", "Window scale", base.HEX),

  updc_id = ProtoField.uint64("pfsync.updc.id", "State id", base.HEX),
  updc_creatorid = ProtoField.uint32("pfsync.updc.creatorid", "Creator id", base.HEX),
  updc_expire = ProtoField.uint32("pfsync.updc.expire", "Expires in (s)"),
  updc_timeout = ProtoField.uint8("pfsync.updc.timeout", "Timeout class", base.DEC, timeouts),
  updc_flags = ProtoField.uint8("pfsync.updc.state_flags", "State flags", base.HEX),

  iack_id = ProtoField.uint64("pfsync.iack.id", "State id", base.HEX),
  iack_creatorid = ProtoField.uint32("pfsync.iack.creatorid", "Creator id", base.HEX),
  ureq_id = ProtoField.uint64("pfsync.ureq.id", "State id", base.HEX),
  ureq_creatorid = ProtoField.uint32("pfsync.ureq.creatorid", "Creator id", base.HEX),
  delc_id = ProtoField.uint64("pfsync.delc.id", "State id", base.HEX),
  delc_creatorid = ProtoField.uint32("pfsync.delc.creatorid", "Creator id", base.HEX),

  bus_creatorid = ProtoField.uint32("pfsync.bus.creatorid", "Creator id", base.HEX),
  bus_endtime = ProtoField.uint32("pfsync.bus.endtime", "End time"),
  bus_status = ProtoField.uint8("pfsync.bus.status", "Status", base.DEC, bus_status),

  clr_ifname = ProtoField.string("pfsync.clr.ifname", "Interface"),
  clr_creatorid = ProtoField.uint32("pfsync.clr.creatorid", "Creator id", base.HEX),

  config_generation = ProtoField.uint64("pfsync.config.generation", "Generation"),
  config_total = ProtoField.uint32("pfsync.config.total", "Total length"),
  config_offset = ProtoField.uint32("pfsync.config.offset", "Offset"),
  config_length = ProtoField.uint16("pfsync.config.length", "Chunk length"),
  config_flags = ProtoField.uint16("pfsync.config.flags", "Flags", base.HEX),
  config_sha256 = ProtoField.bytes("pfsync.config.sha256", "SHA-256 of the whole configuration"),
  config_data = ProtoField.bytes("pfsync.config.data", "Chunk"),

  enc_alg = ProtoField.uint8("pfsync.enc.alg", "Algorithm", base.DEC, algorithms),
  enc_seq = ProtoField.uint64("pfsync.enc.seq", "Sequence number"),
  enc_data = ProtoField.bytes("pfsync.enc.ciphertext", "Ciphertext"),
  enc_tag = ProtoField.bytes("pfsync.enc.tag", "Tag"),
}
local fields = {}
for _, v in pairs(f) do fields[#fields + 1] = v end
p.fields = fields

local e_short = ProtoExpert.new("pfsync.short", "Shorter than the pfsync header", expert.group.MALFORMED, expert.severity.ERROR)
local e_version = ProtoExpert.new("pfsync.bad_version", "Not pfsync version 6", expert.group.PROTOCOL, expert.severity.WARN)
local e_length = ProtoExpert.new("pfsync.bad_length", "Header length under 20 or beyond the packet", expert.group.MALFORMED, expert.severity.ERROR)
local e_section = ProtoExpert.new("pfsync.bad_section", "Section runs past the frame, or its messages are shorter than the action's record", expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_short, e_version, e_length, e_section }

-- The NUL-terminated name in a 16-byte field.
local function ifname(tvb, o) return tvb(o, 16):stringz() end

local function peer(tree, tvb, o, label, tcp)
  local state = tvb(o + 24, 1):uint()
  local names = tcp and tcp_states or other_states
  local t = tree:add(p, tvb(o, 32), string.format("%s: %s", label, names[state] or tostring(state)))
  t:add(f.peer_seqlo, tvb(o + 8, 4))
  t:add(f.peer_seqhi, tvb(o + 12, 4))
  t:add(f.peer_max_win, tvb(o + 20, 2))
  t:add(f.peer_state, tvb(o + 24, 1)):append_text(" (" .. (names[state] or "?") .. ")")
  local ws = tvb(o + 25, 1):uint()
  local wt = t:add(f.peer_wscale, tvb(o + 25, 1))
  if bit.band(ws, 0x80) ~= 0 then
    wt:append_text(string.format(" (option sent, scale %d)", bit.band(ws, 0x0f)))
  end
end

-- pf indexes a key by the direction the state was created in: addr[0] is
-- the initiator's for "in", addr[1] for "out" (pd->sidx).
local function key(tree, tvb, o, label, af, direction)
  local s = direction == 2 and 1 or 0
  local d = 1 - s
  local t = tree:add(p, tvb(o, 40), label)
  local src, dst
  if af == 24 then
    src = t:add(f.key_src6, tvb(o + 16 * s, 16))
    dst = t:add(f.key_dst6, tvb(o + 16 * d, 16))
  else
    src = t:add(f.key_src, tvb(o + 16 * s, 4))
    dst = t:add(f.key_dst, tvb(o + 16 * d, 4))
  end
  local sport, dport = tvb(o + 32 + 2 * s, 2):uint(), tvb(o + 32 + 2 * d, 2):uint()
  t:add(f.key_sport, tvb(o + 32 + 2 * s, 2))
  t:add(f.key_dport, tvb(o + 32 + 2 * d, 2))
  t:add(f.key_rdomain, tvb(o + 36, 2))
  t:add(f.key_af, tvb(o + 38, 1))
  local a = af == 24 and tvb(o + 16 * s, 16):ipv6() or tvb(o + 16 * s, 4):ipv4()
  local b = af == 24 and tvb(o + 16 * d, 16):ipv6() or tvb(o + 16 * d, 4):ipv4()
  local fmt = af == 24 and ": [%s]:%d -> [%s]:%d" or ": %s:%d -> %s:%d"
  t:append_text(string.format(fmt, tostring(a), sport, tostring(b), dport))
end

-- A 64-bit counter as pf sends it, two network-order words high first: the
-- 8 bytes read as one big-endian number.
local function counter(tree, field, tvb, o, label)
  tree:add(field, tvb(o, 8)):prepend_text(label .. " ")
end

local function hex_id(tvb, o) return "0x" .. tvb(o, 8):uint64():tohex() end

local function state(tree, tvb, o, action)
  local af, proto, direction = tvb(o + 250, 1):uint(), tvb(o + 251, 1):uint(), tvb(o + 252, 1):uint()
  local t = tree:add(p, tvb(o, 264), string.format("%s state %s", actions[action], hex_id(tvb, o)))
  t:add(f.st_id, tvb(o, 8))
  t:add(f.st_creatorid, tvb(o + 236, 4))
  t:add(f.st_ifname, tvb(o + 8, 16), ifname(tvb, o + 8))
  t:add(f.st_af, tvb(o + 250, 1))
  t:add(f.st_proto, tvb(o + 251, 1))
  t:add(f.st_direction, tvb(o + 252, 1))
  key(t, tvb, o + 24, "Wire key", af, direction)
  key(t, tvb, o + 64, "Stack key", af, direction)
  peer(t, tvb, o + 104, "Source peer", proto == 6)
  peer(t, tvb, o + 136, "Destination peer", proto == 6)
  t:add(f.st_rule, tvb(o + 184, 4))
  t:add(f.st_creation, tvb(o + 196, 4))
  t:add(f.st_expire, tvb(o + 200, 4))
  counter(t, f.st_packets, tvb, o + 204, "initiator ->")
  counter(t, f.st_packets, tvb, o + 212, "responder ->")
  counter(t, f.st_bytes, tvb, o + 220, "initiator ->")
  counter(t, f.st_bytes, tvb, o + 228, "responder ->")
  t:add(f.st_timeout, tvb(o + 255, 1))
  t:add(f.st_flags, tvb(o + 260, 2))
end

local function upd_c(tree, tvb, o)
  local t = tree:add(p, tvb(o, 84), "UPD_C state " .. hex_id(tvb, o))
  t:add(f.updc_id, tvb(o, 8))
  t:add(f.updc_creatorid, tvb(o + 72, 4))
  peer(t, tvb, o + 8, "Source peer", true)
  peer(t, tvb, o + 40, "Destination peer", true)
  t:add(f.updc_expire, tvb(o + 76, 4))
  t:add(f.updc_timeout, tvb(o + 80, 1))
  t:add(f.updc_flags, tvb(o + 81, 1))
end

local id_fields = {
  [2] = { f.iack_id, f.iack_creatorid },
  [5] = { f.ureq_id, f.ureq_creatorid },
  [7] = { f.delc_id, f.delc_creatorid },
}

local function record(tree, tvb, o, action)
  if action == 13 or action == 14 or action == 6 then
    state(tree, tvb, o, action)
  elseif action == 4 then
    upd_c(tree, tvb, o)
  elseif id_fields[action] then
    local t = tree:add(p, tvb(o, 12), actions[action] .. " " .. hex_id(tvb, o))
    -- UPD_REQ for id 0 of creator 0 asks for every state (a bulk update).
    if action == 5 and tvb(o, 8):uint64() == UInt64(0) and tvb(o + 8, 4):uint() == 0 then
      t:append_text(" (bulk update request)")
    end
    t:add(id_fields[action][1], tvb(o, 8))
    t:add(id_fields[action][2], tvb(o + 8, 4))
  elseif action == 10 then
    local st = tvb(o + 8, 1):uint()
    local t = tree:add(p, tvb(o, 12), "BUS " .. (bus_status[st] or tostring(st)))
    t:add(f.bus_creatorid, tvb(o, 4))
    t:add(f.bus_endtime, tvb(o + 4, 4))
    t:add(f.bus_status, tvb(o + 8, 1))
  elseif action == 200 then
    local n = tvb(o + 16, 2):uint()
    local t = tree:add(p, tvb(o, 52 + n), string.format("hafw config chunk, generation %s: %d bytes at %d of %d",
      tostring(tvb(o, 8):uint64()), n, tvb(o + 12, 4):uint(), tvb(o + 8, 4):uint()))
    t:add(f.config_generation, tvb(o, 8))
    t:add(f.config_total, tvb(o + 8, 4))
    t:add(f.config_offset, tvb(o + 12, 4))
    t:add(f.config_length, tvb(o + 16, 2))
    t:add(f.config_flags, tvb(o + 18, 2))
    t:add(f.config_sha256, tvb(o + 20, 32))
    if n > 0 then t:add(f.config_data, tvb(o + 52, n)) end
  elseif action == 0 then
    local t = tree:add(p, tvb(o, 20), "CLR")
    t:add(f.clr_ifname, tvb(o, 16), ifname(tvb, o))
    t:add(f.clr_creatorid, tvb(o + 16, 4))
  end
end

local function envelope(tvb, pinfo, tree)
  pinfo.cols.info = "pfsync, encrypted"
  local t = tree:add(p, tvb(), "pfsync, encrypted (hafw envelope)")
  if tvb:len() < 12 + 16 then
    t:add_proto_expert_info(e_short)
    return tvb:len()
  end
  t:add(f.enc_alg, tvb(1, 1))
  t:add(f.enc_seq, tvb(4, 8))
  t:add(f.enc_data, tvb(12, tvb:len() - 12 - 16))
  t:add(f.enc_tag, tvb(tvb:len() - 16, 16))
  pinfo.cols.info:append(" seq " .. tostring(tvb(4, 8):uint64()))
  return tvb:len()
end

function p.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "PFSYNC"
  if tvb:len() >= 1 and tvb(0, 1):uint() == ENVELOPE then return envelope(tvb, pinfo, tree) end
  local t = tree:add(p, tvb())
  if tvb:len() < 20 then
    t:add_proto_expert_info(e_short)
    return tvb:len()
  end
  t:add(f.version, tvb(0, 1))
  if tvb(0, 1):uint() ~= VERSION then
    t:add_proto_expert_info(e_version)
    pinfo.cols.info = "pfsync version " .. tvb(0, 1):uint()
    return tvb:len()
  end
  local len = tvb(2, 2):uint()
  local lt = t:add(f.len, tvb(2, 2))
  t:add(f.cksum, tvb(4, 16))
  if len < 20 or len > tvb:len() then
    lt:add_proto_expert_info(e_length)
    return tvb:len()
  end
  local info = {}
  local o = 20
  while o < len do
    if len - o < 4 then
      t:add_proto_expert_info(e_section)
      break
    end
    local action, mlen, count = tvb(o, 1):uint(), tvb(o + 1, 1):uint() * 4, tvb(o + 2, 2):uint()
    local name = actions[action] or ("action " .. action)
    local st = t:add(p, tvb(o, math.min(len - o, 4 + mlen * count)), string.format("%s x%d", name, count))
    st:add(f.action, tvb(o, 1))
    st:add(f.msglen, tvb(o + 1, 1))
    st:add(f.count, tvb(o + 2, 2))
    o = o + 4
    local want = sizes[action]
    if (want and mlen < want) or mlen * count > len - o then
      st:add_proto_expert_info(e_section)
      break
    end
    info[#info + 1] = string.format("%s x%d", name, count)
    if want then
      for i = 0, count - 1 do record(st, tvb, o + i * mlen, action) end
    elseif mlen * count > 0 then
      st:add(f.skipped, tvb(o, mlen * count))
    end
    o = o + mlen * count
  end
  pinfo.cols.info = "pfsync " .. table.concat(info, ", ")
  return len
end

DissectorTable.get("ip.proto"):add(240, p)
