// The case model and the input generator. Frames are built here from
// case.json's descriptions with this file's own header writer and checksum
// (not the dataplane's), so an input does not inherit a bug of the code it
// tests. README.md describes the vocabulary.
#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "control/compile.h"
#include "dataplane/nat.h"
#include "dataplane/state_table.h"
#include "tests/golden/golden.h"

namespace hafw::golden {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CaseError(path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every key of object `j` must be one of `keys`: a typo in a case is an error, not a default.
void only(const json& j, const std::string& where, std::initializer_list<const char*> keys) {
  if (!j.is_object()) throw CaseError(where + ": must be an object");
  for (const auto& [k, v] : j.items()) {
    if (std::none_of(keys.begin(), keys.end(), [&](const char* a) { return k == a; }))
      throw CaseError(where + ": unknown key '" + k + "'");
  }
}

const json& need(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw CaseError(where + ": '" + key + "' is missing");
  return j.at(key);
}

uint64_t number(const json& j, const std::string& where, uint64_t max) {
  if (!j.is_number_unsigned() || j.get<uint64_t>() > max)
    throw CaseError(where + ": must be a number from 0 to " + std::to_string(max));
  return j.get<uint64_t>();
}

std::string text(const json& j, const std::string& where) {
  if (!j.is_string()) throw CaseError(where + ": must be a string");
  return j.get<std::string>();
}

unsigned iface_index(const Case& c, const std::string& name, const std::string& where) {
  for (unsigned i = 0; i < c.iface_count(); ++i)
    if (c.iface_name(i) == name) return i;
  throw CaseError(where + ": no interface '" + name + "' in node.json");
}

// ---- the frame builder: big-endian writes and the RFC 1071 sum, written
// out here rather than borrowed from the dataplane.

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}
void put32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (24 - 8 * i));
}
uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i < n; i += 2) s += uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
  return s;
}
uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}
// The TCP/UDP/ICMPv6 checksum of `seg` between addresses src and dst
// (network order bytes, 4 for IPv4 and 16 for IPv6: RFC 8200 §8.1's pseudo
// header sums to the same as IPv4's for lengths under 64 KiB).
uint16_t l4_sum(const uint8_t* src, const uint8_t* dst, uint8_t proto, const Bytes& seg, size_t alen = 4) {
  uint32_t s = sum16(src, alen);
  s = sum16(dst, alen, s);
  s += proto;
  s += uint32_t(seg.size());
  return fold(sum16(seg.data(), seg.size(), s));
}

// Deterministic payload bytes: readable in a hexdump.
void fill(Bytes& b, size_t at, size_t n) {
  for (size_t i = 0; i < n; ++i) b[at + i] = uint8_t('a' + i % 26);
}

uint8_t tcp_flags(const std::string& s, const std::string& where) {
  uint8_t f = 0;
  for (char ch : s) {
    switch (ch) {
      case 'F': f |= 0x01; break;
      case 'S': f |= 0x02; break;
      case 'R': f |= 0x04; break;
      case 'P': f |= 0x08; break;
      case 'A': f |= 0x10; break;
      case 'U': f |= 0x20; break;
      case 'E': f |= 0x40; break;
      case 'C': f |= 0x80; break;
      default: throw CaseError(where + ": TCP flags are letters of FSRPAUEC, got '" + s + "'");
    }
  }
  return f;
}

class Builder {
 public:
  explicit Builder(const Case& c) : c_(c) {}

  Bytes frame(const Frame& f, const std::string& where) {
    const json& j = f.spec;
    only(j, where, {"iface", "note", "eth_src", "eth_dst", "src", "dst", "ttl", "id", "tos", "df", "udp", "tcp",
                    "icmp", "icmp6", "ext", "frag"});
    const bool v6 = is_v6(need(j, "src", where), where + ".src");
    size_t unfragmentable = 20;  // IPv4's header; IPv6's and its `ext` headers
    Bytes ip = v6 ? packet6(j, where, &unfragmentable) : packet(j, where);
    if (j.contains("frag")) {
      ip = v6 ? cut6(ip, unfragmentable, j["frag"], where + ".frag", j)
              : cut(ip, j["frag"], where + ".frag", j.contains("id"));
    }
    Bytes b(14 + ip.size());
    const net::Mac dst = mac(need(j, "eth_dst", where), where + ".eth_dst");
    const net::Mac src = mac(need(j, "eth_src", where), where + ".eth_src");
    std::copy(dst.b.begin(), dst.b.end(), b.begin());
    std::copy(src.b.begin(), src.b.end(), b.begin() + 6);
    put16(b, 12, v6 ? 0x86dd : 0x0800);
    std::copy(ip.begin(), ip.end(), b.begin() + 14);
    if (b.size() < 60) b.resize(60, 0);  // Ethernet's minimum, as a NIC delivers it
    return b;
  }

 private:
  net::Mac mac(const json& j, const std::string& where) const {
    const std::string s = text(j, where);
    if (s.rfind("vmac:", 0) == 0) return net::Mac::virtual_for(uint8_t(std::stoul(s.substr(5))));
    if (s.rfind("if:", 0) == 0) return c_.macs[iface_index(c_, s.substr(3), where)];
    if (auto h = c_.hosts.find(s); h != c_.hosts.end()) {
      if (!h->second.mac) throw CaseError(where + ": host '" + s + "' has no MAC");
      return *h->second.mac;
    }
    if (auto m = net::Mac::parse(s)) return *m;
    throw CaseError(where + ": '" + s + "' is not a MAC, a host, vmac:N or if:NAME");
  }

  std::array<uint8_t, 4> addr(const json& j, const std::string& where) const {
    const std::string s = text(j, where);
    net::IpAddr a;
    if (auto h = c_.hosts.find(s); h != c_.hosts.end()) a = h->second.ip;
    else if (auto p = net::IpAddr::parse(s); p && p->is_v4()) a = *p;
    else throw CaseError(where + ": '" + s + "' is not an IPv4 address or a host");
    return {a.b[0], a.b[1], a.b[2], a.b[3]};
  }

  net::IpAddr any_addr(const json& j, const std::string& where) const {
    const std::string s = text(j, where);
    if (auto h = c_.hosts.find(s); h != c_.hosts.end()) return h->second.ip;
    if (auto p = net::IpAddr::parse(s)) return *p;
    throw CaseError(where + ": '" + s + "' is not an address or a host");
  }
  bool is_v6(const json& j, const std::string& where) const { return !any_addr(j, where).is_v4(); }
  std::array<uint8_t, 16> addr6(const json& j, const std::string& where) const {
    const net::IpAddr a = any_addr(j, where);
    if (a.is_v4()) throw CaseError(where + ": '" + text(j, where) + "' is IPv4 in an IPv6 packet");
    return a.b;
  }

  // An IPv6 packet (no Ethernet header): `ttl` is the hop limit; `ext`, a
  // list of extension headers written before the transport header, each
  // {"type": 0|43|44|60, "len": 8-byte units after the first 8} (routing:
  // "routing_type"; fragment: "offset", "more") with zero padding.
  // `unfragmentable`, if given, gets the bytes of the IPv6 header and the
  // extension headers (what a fragment repeats).
  Bytes packet6(const json& j, const std::string& where, size_t* unfragmentable = nullptr) {
    const auto src = addr6(need(j, "src", where), where + ".src");
    const auto dst = addr6(need(j, "dst", where), where + ".dst");
    uint8_t proto;
    Bytes l4;
    if (j.contains("icmp6")) {
      proto = 58;
      l4 = icmp6(j["icmp6"], where + ".icmp6", src.data(), dst.data());
    } else if (!ports(j, where, src.data(), dst.data(), 16, proto, l4)) {
      throw CaseError(where + ": an IPv6 packet needs one of udp, tcp, icmp6");
    }
    Bytes ext;
    uint8_t first = proto;
    if (j.contains("ext")) {
      const json& e = j["ext"];
      if (!e.is_array()) throw CaseError(where + ".ext: must be an array");
      std::vector<uint8_t> types;
      for (size_t i = 0; i < e.size(); ++i)
        types.push_back(uint8_t(number(need(e[i], "type", where + ".ext"), where + ".ext.type", 255)));
      for (size_t i = 0; i < e.size(); ++i) {
        const std::string w = where + ".ext[" + std::to_string(i) + "]";
        only(e[i], w, {"type", "len", "routing_type", "offset", "more"});
        const size_t len = types[i] == 44 ? 0 : (e[i].contains("len") ? number(e[i]["len"], w + ".len", 8) : 0);
        Bytes h(8 + 8 * len, 0);
        h[0] = i + 1 < e.size() ? types[i + 1] : proto;
        h[1] = uint8_t(len);
        if (types[i] == 43) h[2] = uint8_t(e[i].contains("routing_type") ? number(e[i]["routing_type"], w, 255) : 4);
        if (types[i] == 44) {
          put16(h, 2, uint16_t(number(e[i].value("offset", json(0)), w + ".offset", 8191) << 3 |
                               (e[i].value("more", false) ? 1 : 0)));
          put32(h, 4, 0x1234);
        }
        if (types[i] == 0 || types[i] == 60) {  // PadN over the options area
          h[2] = 1;
          h[3] = uint8_t(h.size() - 4);
        }
        ext.insert(ext.end(), h.begin(), h.end());
      }
      if (!types.empty()) first = types[0];
    }
    Bytes ip(40);
    ip[0] = 0x60;
    put16(ip, 4, uint16_t(ext.size() + l4.size()));
    ip[6] = first;
    ip[7] = uint8_t(j.contains("ttl") ? number(j["ttl"], where + ".ttl", 255) : 64);
    std::copy(src.begin(), src.end(), ip.begin() + 8);
    std::copy(dst.begin(), dst.end(), ip.begin() + 24);
    ip.insert(ip.end(), ext.begin(), ext.end());
    if (unfragmentable) *unfragmentable = ip.size();
    ip.insert(ip.end(), l4.begin(), l4.end());
    return ip;
  }

  // One fragment of the whole IPv6 packet `ip` (RFC 8200 §4.5): its first
  // `unfrag` bytes (the IPv6 header and the frame's `ext` headers) repeated,
  // a fragment header (the frame's `id` as its identification) after them,
  // then the slice of the rest `frag` names as cut() does for IPv4.
  Bytes cut6(const Bytes& ip, size_t unfrag, const json& j, const std::string& where, const json& frame) {
    only(j, where, {"offset", "len", "mf", "header_offset"});
    if (!frame.contains("id")) throw CaseError(where + ": a fragment needs the packet's \"id\"");
    const uint32_t id = uint32_t(number(frame["id"], where + ".id", 0xffffffff));
    const size_t payload = ip.size() - unfrag;
    const size_t offset = number(need(j, "offset", where), where + ".offset", 65528);
    if (offset % 8 != 0) throw CaseError(where + ".offset: must be a multiple of 8");
    if (offset > payload) throw CaseError(where + ".offset: past the packet's " + std::to_string(payload) + " bytes");
    const size_t len = j.contains("len") ? number(j["len"], where + ".len", payload - offset) : payload - offset;
    const bool mf = j.contains("mf") ? j["mf"].get<bool>() : offset + len < payload;
    const size_t said = j.contains("header_offset") ? number(j["header_offset"], where + ".header_offset", 65528) : offset;
    if (said % 8 != 0) throw CaseError(where + ".header_offset: must be a multiple of 8");
    // The next header field that named the fragmentable part now names the
    // fragment header: the IPv6 header's, or the last extension header's.
    size_t next_at = 6, at = 40;
    for (uint8_t type = ip[6]; at < unfrag; type = ip[next_at]) {
      next_at = at;
      at += type == 44 ? 8 : (size_t(ip[at + 1]) + 1) * 8;
    }
    Bytes f(ip.begin(), ip.begin() + long(unfrag));
    const uint8_t inner = f[next_at];
    f[next_at] = 44;
    Bytes h(8, 0);
    h[0] = inner;
    put16(h, 2, uint16_t(said | (mf ? 1 : 0)));
    put32(h, 4, id);
    f.insert(f.end(), h.begin(), h.end());
    f.insert(f.end(), ip.begin() + long(unfrag + offset), ip.begin() + long(unfrag + offset + len));
    put16(f, 4, uint16_t(f.size() - 40));
    return f;
  }

  // ICMPv6: echo (128, 129: id, seq, data), Neighbor Solicitation or
  // Advertisement (135, 136: target, flags (NA: letters of RSO), lla: the
  // link-layer option's MAC or host, none without), or an error quoting
  // `quote` (`quote_len`: bytes of it after its IPv6 header, or "all", the default).
  Bytes icmp6(const json& j, const std::string& where, const uint8_t* src, const uint8_t* dst) {
    only(j, where, {"type", "code", "id", "seq", "data", "target", "flags", "lla", "quote", "quote_len", "mtu"});
    const uint8_t type = uint8_t(number(need(j, "type", where), where + ".type", 255));
    const uint8_t code = uint8_t(j.contains("code") ? number(j["code"], where + ".code", 255) : 0);
    Bytes m;
    if (type == 128 || type == 129) {
      const size_t n = j.contains("data") ? number(j["data"], where + ".data", 1400) : 32;
      m.assign(8 + n, 0);
      put16(m, 4, port(need(j, "id", where), where + ".id"));
      put16(m, 6, uint16_t(j.contains("seq") ? number(j["seq"], where + ".seq", 65535) : 1));
      fill(m, 8, n);
    } else if (type == 135 || type == 136) {
      m.assign(24, 0);
      const auto t = addr6(need(j, "target", where), where + ".target");
      std::copy(t.begin(), t.end(), m.begin() + 8);
      if (j.contains("flags")) {
        for (char ch : text(j["flags"], where + ".flags")) {
          if (ch == 'R') m[4] |= 0x80;
          else if (ch == 'S') m[4] |= 0x40;
          else if (ch == 'O') m[4] |= 0x20;
          else throw CaseError(where + ".flags: letters of RSO");
        }
      }
      if (j.contains("lla")) {
        const net::Mac lla = mac(j["lla"], where + ".lla");
        m.push_back(type == 135 ? 1 : 2);
        m.push_back(1);
        m.insert(m.end(), lla.b.begin(), lla.b.end());
      }
    } else {
      Bytes q = packet6(need(j, "quote", where), where + ".quote");
      if (j.contains("quote_len") && j["quote_len"] != "all")
        q.resize(std::min(q.size(), 40 + number(j["quote_len"], where + ".quote_len", 1400)));
      m.assign(8, 0);
      if (j.contains("mtu")) put32(m, 4, uint32_t(number(j["mtu"], where + ".mtu", 65535)));
      m.insert(m.end(), q.begin(), q.end());
    }
    m[0] = type;
    m[1] = code;
    put16(m, 2, l4_sum(src, dst, 58, m, 16));
    return m;
  }

  // A port or ICMP id: a number, or "$name" for a NAT port of the case.
  uint16_t port(const json& j, const std::string& where) const {
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      if (s.size() > 1 && s[0] == '$') {
        auto n = c_.nat_ports.find(s.substr(1));
        if (n == c_.nat_ports.end()) throw CaseError(where + ": no NAT port '" + s.substr(1) + "'");
        return n->second.value;
      }
    }
    return uint16_t(number(j, where, 65535));
  }

  // One fragment of the whole packet `ip`: the payload from `offset` (a
  // multiple of 8), `len` bytes of it (default: to the end), MF set unless it
  // reaches the end (or as `mf` says), the header's length, offset and
  // checksum rewritten (`header_offset` writes another offset than the bytes
  // have). The fragments of one packet share its `id`, which
  // each of their frames must therefore give.
  Bytes cut(const Bytes& ip, const json& j, const std::string& where, bool has_id) {
    only(j, where, {"offset", "len", "mf", "header_offset"});
    if (!has_id) throw CaseError(where + ": a fragment needs the packet's \"id\"");
    const size_t payload = ip.size() - 20;
    const size_t offset = number(need(j, "offset", where), where + ".offset", 65528);
    if (offset % 8 != 0) throw CaseError(where + ".offset: must be a multiple of 8");
    if (offset > payload) throw CaseError(where + ".offset: past the packet's " + std::to_string(payload) + " bytes");
    const size_t len = j.contains("len") ? number(j["len"], where + ".len", payload - offset) : payload - offset;
    const bool mf = j.contains("mf") ? j["mf"].get<bool>() : offset + len < payload;
    Bytes f(ip.begin(), ip.begin() + 20);
    f.insert(f.end(), ip.begin() + 20 + long(offset), ip.begin() + 20 + long(offset + len));
    put16(f, 2, uint16_t(f.size()));
    // header_offset: a lie about where the bytes go (an oversize fragment).
    const size_t said = j.contains("header_offset") ? number(j["header_offset"], where + ".header_offset", 65528) : offset;
    if (said % 8 != 0) throw CaseError(where + ".header_offset: must be a multiple of 8");
    put16(f, 6, uint16_t((ip[6] & 0x40) << 8 | (mf ? 0x2000 : 0) | said / 8));
    put16(f, 10, 0);
    put16(f, 10, fold(sum16(f.data(), 20)));
    return f;
  }

  // An IPv4 packet (no Ethernet header) from the description at `j`.
  Bytes packet(const json& j, const std::string& where) {
    const auto src = addr(need(j, "src", where), where + ".src");
    const auto dst = addr(need(j, "dst", where), where + ".dst");
    uint8_t proto;
    Bytes l4;
    if (ports(j, where, src.data(), dst.data(), 4, proto, l4)) {
    } else if (j.contains("icmp")) {
      proto = 1;
      l4 = icmp(j["icmp"], where + ".icmp");
    } else {
      throw CaseError(where + ": needs one of udp, tcp, icmp");
    }
    if (int(j.contains("udp")) + int(j.contains("tcp")) + int(j.contains("icmp")) != 1)
      throw CaseError(where + ": only one of udp, tcp, icmp");

    Bytes ip(20 + l4.size());
    ip[0] = 0x45;
    ip[1] = uint8_t(j.contains("tos") ? number(j["tos"], where + ".tos", 255) : 0);
    put16(ip, 2, uint16_t(ip.size()));
    put16(ip, 4, uint16_t(j.contains("id") ? number(j["id"], where + ".id", 65535) : next_id_++));
    put16(ip, 6, j.value("df", false) ? 0x4000 : 0);
    ip[8] = uint8_t(j.contains("ttl") ? number(j["ttl"], where + ".ttl", 255) : 64);
    ip[9] = proto;
    std::copy(src.begin(), src.end(), ip.begin() + 12);
    std::copy(dst.begin(), dst.end(), ip.begin() + 16);
    put16(ip, 10, fold(sum16(ip.data(), 20)));
    std::copy(l4.begin(), l4.end(), ip.begin() + 20);
    return ip;
  }

  // The UDP or TCP segment the description holds, if it holds one.
  bool ports(const json& j, const std::string& where, const uint8_t* src, const uint8_t* dst, size_t alen,
             uint8_t& proto, Bytes& l4) {
    if (j.contains("udp")) {
      proto = 17;
      l4 = udp(j["udp"], where + ".udp", src, dst, alen);
    } else if (j.contains("tcp")) {
      proto = 6;
      l4 = tcp(j["tcp"], where + ".tcp", src, dst, alen);
    } else {
      return false;
    }
    return true;
  }

  Bytes udp(const json& j, const std::string& where, const uint8_t* src, const uint8_t* dst, size_t alen = 4) {
    only(j, where, {"sport", "dport", "data"});
    // Longer than a frame holds only to be sent as fragments ("frag").
    const size_t n = j.contains("data") ? number(j["data"], where + ".data", 16000) : 16;
    Bytes u(8 + n);
    put16(u, 0, port(need(j, "sport", where), where + ".sport"));
    put16(u, 2, port(need(j, "dport", where), where + ".dport"));
    put16(u, 4, uint16_t(u.size()));
    fill(u, 8, n);
    uint16_t c = l4_sum(src, dst, 17, u, alen);
    put16(u, 6, c == 0 ? 0xffff : c);  // RFC 768: a sum of 0 is sent as all ones
    return u;
  }

  Bytes tcp(const json& j, const std::string& where, const uint8_t* src, const uint8_t* dst, size_t alen = 4) {
    only(j, where, {"sport", "dport", "seq", "ack", "flags", "win", "data", "wscale"});
    const bool ws = j.contains("wscale");
    const size_t hlen = ws ? 24 : 20;
    const size_t n = j.contains("data") ? number(j["data"], where + ".data", 1400) : 0;
    Bytes t(hlen + n, 0);
    put16(t, 0, port(need(j, "sport", where), where + ".sport"));
    put16(t, 2, port(need(j, "dport", where), where + ".dport"));
    put32(t, 4, uint32_t(number(need(j, "seq", where), where + ".seq", 0xffffffff)));
    put32(t, 8, uint32_t(j.contains("ack") ? number(j["ack"], where + ".ack", 0xffffffff) : 0));
    t[12] = uint8_t(hlen / 4 << 4);
    t[13] = tcp_flags(text(need(j, "flags", where), where + ".flags"), where + ".flags");
    put16(t, 14, uint16_t(j.contains("win") ? number(j["win"], where + ".win", 65535) : 65535));
    if (ws) {  // NOP, window scale
      t[20] = 1;
      t[21] = 3;
      t[22] = 3;
      t[23] = uint8_t(number(j["wscale"], where + ".wscale", 14));
    }
    fill(t, hlen, n);
    put16(t, 16, l4_sum(src, dst, 6, t, alen));
    return t;
  }

  Bytes icmp(const json& j, const std::string& where) {
    only(j, where, {"type", "code", "id", "seq", "data", "quote", "quote_len"});
    const uint8_t type = uint8_t(number(need(j, "type", where), where + ".type", 255));
    const uint8_t code = uint8_t(j.contains("code") ? number(j["code"], where + ".code", 255) : 0);
    Bytes m;
    if (type == 0 || type == 8) {  // echo reply, echo request
      const size_t n = j.contains("data") ? number(j["data"], where + ".data", 1400) : 32;
      m.assign(8 + n, 0);
      put16(m, 4, port(need(j, "id", where), where + ".id"));
      put16(m, 6, uint16_t(j.contains("seq") ? number(j["seq"], where + ".seq", 65535) : 1));
      fill(m, 8, n);
    } else {
      // An error quoting the IP header and the first quote_len bytes (default
      // 8, RFC 792's minimum; "all" as Linux does) of the packet it is about,
      // as the sender of the error received it.
      const std::string qw = where + ".quote";
      Bytes q = packet(need(j, "quote", where), qw);
      size_t keep = 8;
      if (j.contains("quote_len")) {
        if (j["quote_len"] == "all") keep = q.size() - 20;
        else keep = number(j["quote_len"], where + ".quote_len", 1400);
      }
      q.resize(std::min(q.size(), 20 + keep));
      m.assign(8, 0);
      m.insert(m.end(), q.begin(), q.end());
    }
    m[0] = type;
    m[1] = code;
    put16(m, 2, fold(sum16(m.data(), m.size())));
    return m;
  }

  const Case& c_;
  uint16_t next_id_ = 1;
};

Expect parse_expect(const Case& c, const json& j, const std::string& where) {
  only(j, where, {"out", "drops", "punts", "icmp", "states", "nat", "fragments"});
  Expect e;
  e.out.assign(c.iface_count(), 0);
  if (j.contains("out") && !j["out"].is_object()) throw CaseError(where + ".out: must be an object");
  const json out = j.value("out", json::object());
  for (const auto& [name, n] : out.items())
    e.out[iface_index(c, name, where + ".out")] = number(n, where + ".out." + name, 100000);
  auto family = [&](const char* key, auto const& table, std::map<std::string, uint64_t>& into) {
    if (!j.contains(key)) return;
    const std::string w = where + "." + key;
    if (!j[key].is_object()) throw CaseError(w + ": must be an object");
    for (const auto& [name, n] : j[key].items()) {
      if (std::none_of(table.begin(), table.end(), [&](const auto& row) { return name == row.name; }))
        throw CaseError(w + ": no counter '" + name + "'");
      into[name] = number(n, w + "." + name, 100000);
    }
  };
  family("drops", dp::kDropReasons, e.drops);
  family("punts", dp::kPuntReasons, e.punts);
  family("icmp", dp::kIcmpCounters, e.icmp);
  family("states", dp::kStateCounters, e.states);
  family("nat", dp::kNatCounters, e.nat);
  family("fragments", kFragmentCounters, e.fragments);
  return e;
}

}  // namespace

std::string Case::file(size_t step, unsigned iface, const char* suffix) const {
  return dir + "/step" + std::to_string(step + 1) + "-" + iface_name(iface) + suffix;
}

Case load_case(const std::string& dir_arg) {
  Case c;
  std::error_code ec;
  c.dir = fs::canonical(dir_arg, ec).string();
  if (ec) throw CaseError(dir_arg + ": no such case directory");
  c.name = fs::path(c.dir).filename().string();

  // The node's configuration, through the real parser and its rules.
  const std::string node = c.dir + "/node.json";
  config::LoadResult loaded = config::parse(read_file(node));
  std::string errors;
  for (const auto& d : loaded.diagnostics)
    if (d.is_error()) errors += "\n  " + d.str();
  if (!loaded.ok()) throw CaseError(node + ": invalid:" + errors);
  c.cfg = *loaded.config;
  if (c.cfg.dataplane.workers != 1) throw CaseError(node + ": dataplane.workers must be 1 (one worker runs a case)");
  for (unsigned i = 0; i < c.iface_count(); ++i)
    c.macs.push_back(net::Mac{{0x02, 0x00, 0x00, 0x00, 0x00, uint8_t(i + 1)}});

  const std::string path = c.dir + "/case.json";
  json j = json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) throw CaseError(path + ": not valid JSON");
  only(j, "case.json", {"description", "owned_vips", "hosts", "nat_ports", "steps"});
  c.description = j.value("description", "");

  for (const auto& v : need(j, "owned_vips", "case.json")) {
    auto a = net::IpAddr::parse(text(v, "owned_vips[]"));
    if (!a || !a->is_v4()) throw CaseError("case.json: owned_vips: '" + v.dump() + "' is not an IPv4 address");
    bool configured = false;
    for (const auto& vip : c.cfg.carp.vips)
      configured = configured || std::find(vip.addresses.begin(), vip.addresses.end(), *a) != vip.addresses.end();
    if (!configured) throw CaseError("case.json: owned_vips: " + a->str() + " is no VIP of node.json");
    c.owned_vips.push_back(a->v4());
  }

  const json hosts = j.value("hosts", json::object());
  for (const auto& [name, h] : hosts.items()) {
    const std::string w = "hosts." + name;
    only(h, w, {"ip", "mac", "iface", "note"});
    Host host;
    auto ip = net::IpAddr::parse(text(need(h, "ip", w), w + ".ip"));
    if (!ip) throw CaseError(w + ".ip: not an IP address");
    host.ip = *ip;
    if (h.contains("mac")) {
      host.mac = net::Mac::parse(text(h["mac"], w + ".mac"));
      if (!host.mac) throw CaseError(w + ".mac: not a MAC address");
    }
    if (h.contains("iface")) {
      if (!host.mac) throw CaseError(w + ": a neighbour (iface) needs a mac");
      host.iface = iface_index(c, text(h["iface"], w + ".iface"), w + ".iface");
    }
    c.hosts[name] = host;
  }

  if (!j.contains("steps") || !j["steps"].is_array() || j["steps"].empty())
    throw CaseError("case.json: steps must be a non-empty array");
  for (size_t s = 0; s < j["steps"].size(); ++s) {
    const json& st = j["steps"][s];
    const std::string w = "steps[" + std::to_string(s) + "]";
    only(st, w, {"note", "frames", "advance_ms", "expect"});
    Step step;
    step.note = st.value("note", "");
    if (st.contains("advance_ms")) step.advance_ms = number(st["advance_ms"], w + ".advance_ms", 3600000);
    const json& frames = need(st, "frames", w);
    if (!frames.is_array()) throw CaseError(w + ".frames: must be an array");
    for (size_t f = 0; f < frames.size(); ++f) {
      const std::string fw = w + ".frames[" + std::to_string(f) + "]";
      step.frames.push_back({iface_index(c, text(need(frames[f], "iface", fw), fw + ".iface"), fw + ".iface"),
                             frames[f]});
    }
    step.expect = parse_expect(c, need(st, "expect", w), w + ".expect");
    c.steps.push_back(std::move(step));
  }

  // NAT ports: what state_create's port_candidate gives the flow, with the
  // policy's range and the harness's NatPorts (seed kNatSeed, worker 0 of 1).
  dp::StateTable scratch(16);
  const auto policy = control::compile_policy(c.cfg, scratch, 1);
  const dp::NatPorts np{.seed = kNatSeed, .worker = 0, .workers = 1};
  const json nat_ports = j.value("nat_ports", json::object());
  for (const auto& [name, n] : nat_ports.items()) {
    const std::string w = "nat_ports." + name;
    only(n, w, {"proto", "src", "sport", "dst", "dport", "id", "attempt", "seen", "note"});
    auto host_ip = [&](const json& v, const std::string& ww) {
      const std::string s = text(v, ww);
      if (auto h = c.hosts.find(s); h != c.hosts.end()) return h->second.ip;
      auto a = net::IpAddr::parse(s);
      if (!a || !a->is_v4()) throw CaseError(ww + ": not an IPv4 address or a host");
      return *a;
    };
    NatPort p;
    p.key.af = net::Family::V4;
    const std::string proto = text(need(n, "proto", w), w + ".proto");
    p.key.src = host_ip(need(n, "src", w), w + ".src").b;
    p.key.dst = host_ip(need(n, "dst", w), w + ".dst").b;
    if (proto == "udp" || proto == "tcp") {
      p.key.proto = proto == "udp" ? net::kProtoUdp : net::kProtoTcp;
      p.key.sport = net::be16(uint16_t(number(need(n, "sport", w), w + ".sport", 65535)));
      p.key.dport = net::be16(uint16_t(number(need(n, "dport", w), w + ".dport", 65535)));
    } else if (proto == "icmp") {  // an echo: the id in both ports (pf's key)
      p.key.proto = net::kProtoIcmp;
      p.key.sport = p.key.dport = net::be16(uint16_t(number(need(n, "id", w), w + ".id", 65535)));
    } else {
      throw CaseError(w + ".proto: udp, tcp or icmp");
    }
    p.attempt = unsigned(n.contains("attempt") ? number(n["attempt"], w + ".attempt", dp::nat::kPortAttempts - 1) : 0);
    p.value = dp::nat::port_candidate(np, p.key, policy->nat_port_lo, policy->nat_port_hi, p.attempt);
    // Where the translated packet leaves; every NAT port is asserted there.
    const json& seen = need(n, "seen", w);
    only(seen, w + ".seen", {"step", "iface", "packet"});
    p.step = unsigned(number(need(seen, "step", w + ".seen"), w + ".seen.step", c.steps.size()));
    p.iface = iface_index(c, text(need(seen, "iface", w + ".seen"), w + ".seen.iface"), w + ".seen.iface");
    p.packet = unsigned(number(need(seen, "packet", w + ".seen"), w + ".seen.packet", 100000));
    if (p.step == 0 || p.packet == 0) throw CaseError(w + ".seen: step and packet count from 1");
    c.nat_ports[name] = p;
  }
  return c;
}

std::vector<std::vector<Bytes>> build_inputs(const Case& c, size_t step) {
  // IP ids count from 1 over the whole case, so build every earlier step too.
  Builder b(c);
  std::vector<std::vector<Bytes>> in;
  for (size_t s = 0; s <= step; ++s) {
    in.assign(c.iface_count(), {});
    for (size_t f = 0; f < c.steps[s].frames.size(); ++f) {
      const Frame& fr = c.steps[s].frames[f];
      in[fr.iface].push_back(
          b.frame(fr, "steps[" + std::to_string(s) + "].frames[" + std::to_string(f) + "]"));
    }
  }
  return in;
}

void generate(const Case& c) {
  std::set<std::string> written;
  for (size_t s = 0; s < c.steps.size(); ++s) {
    const auto in = build_inputs(c, s);
    for (unsigned i = 0; i < c.iface_count(); ++i) {
      if (in[i].empty()) continue;
      write_pcap(c.in_pcap(s, i), in[i]);
      written.insert(c.in_pcap(s, i));
    }
  }
  for (const auto& e : fs::directory_iterator(c.dir)) {
    const std::string p = e.path().string();
    if (p.ends_with(".in.pcap") && !written.count(p)) fs::remove(e.path());
  }
}

}  // namespace hafw::golden
