// Reading a node's JSON configuration into the model (docs/config.md).
//
// Two passes: this file checks the shape (known keys, types, ranges, address
// syntax) and fills a Draft; config_rules.cc then checks the operator's rules
// across fields. Every problem is collected, never just the first: an
// operator fixing a file wants the whole list in one run of `hafwctl check`.
#include "control/config.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <sstream>

#include "control/config_draft.h"

namespace hafw::config {

using nlohmann::json;
using namespace detail;

const Interface* Config::find_interface(std::string_view name) const {
  for (const auto& i : interfaces)
    if (i.name == name) return &i;
  return nullptr;
}

std::string Diagnostic::str() const {
  return std::string(is_error() ? "error: " : "warning: ") + path + ": " + message;
}

namespace detail {

bool Diags::has_error() const {
  return std::any_of(list_.begin(), list_.end(), [](const Diagnostic& d) { return d.is_error(); });
}

std::string child(const std::string& path, std::string_view key) {
  if (path == "$") return std::string(key);
  return path + "." + std::string(key);
}

std::string elem(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string quote(std::string_view s) {
  // 64 bytes shows any sensible key or name whole; past that it is noise.
  constexpr size_t kMaxShown = 64;
  std::string out = "'";
  size_t n = 0;
  for (unsigned char c : s) {
    if (n >= kMaxShown && (c & 0xc0) != 0x80) {  // cut on a UTF-8 boundary
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
    ++n;
  }
  return out + "'";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Keys are short (under 20 bytes), a full table is cheap.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace detail

namespace {

using Keys = std::span<const std::string_view>;

constexpr std::string_view kRootKeys[] = {"node", "dataplane", "interfaces", "carp", "sync",
                                          "routes", "nat", "rules", "control"};
constexpr std::string_view kNodeKeys[] = {"name", "role"};
constexpr std::string_view kDataplaneKeys[] = {"eal", "workers", "max_states", "timeouts", "fragments"};
constexpr std::string_view kFragmentKeys[] = {"max_packets", "timeout_ms"};
constexpr std::string_view kInterfaceKeys[] = {"name", "port", "address", "address6", "peer"};
constexpr std::string_view kCarpKeys[] = {"preempt", "demotion_scope", "vips"};
constexpr std::string_view kVipKeys[] = {"interface", "vhid",    "addresses", "password",
                                         "advbase",   "advskew", "peer",      "description"};
constexpr std::string_view kSyncKeys[] = {"interface", "peer", "key", "config_sync"};
constexpr std::string_view kRouteKeys[] = {"destination", "gateway"};
constexpr std::string_view kNatKeys[] = {"outbound", "port_forwards"};
constexpr std::string_view kOutboundKeys[] = {"interface", "source", "translation"};
constexpr std::string_view kForwardKeys[] = {"interface", "protocol", "destination",
                                             "port",      "target",   "target_port"};
constexpr std::string_view kRuleKeys[] = {"action", "interface", "direction", "protocol",
                                          "source", "destination", "port", "keep_state"};
constexpr std::string_view kControlKeys[] = {"socket", "state_dir", "realtime_priority"};

// dataplane.timeouts: pf's names, in net::Timeout order.
constexpr auto kTimeoutKeys = [] {
  std::array<std::string_view, net::kTimeouts.size()> keys{};
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = net::kTimeouts[i].name;
  return keys;
}();
// Ten years: expiry is the last packet's time plus the timeout in 32-bit
// seconds, which this keeps far from wrapping.
constexpr uint64_t kMaxTimeout = 315360000;

// pfsync carries the interface name in a 16-byte, NUL-terminated ifname.
constexpr size_t kMaxIfName = 15;
// The DPDK default build has RTE_MAX_LCORE 128; one lcore stays for control.
constexpr uint64_t kMaxWorkers = 127;

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "value";
  }
}

std::string got(const json& j) {
  if (j.is_number()) return "got " + j.dump();
  return "got " + type_name(j);
}

// Reads one file into a Draft. Each reader reports its own problems and
// returns nothing for a field it could not take.
class Reader {
 public:
  explicit Reader(Diags& diags) : d_(diags) {}

  Draft read(const json& root);

 private:
  // An object whose keys are all known; false (reported) if not an object.
  bool object(const json& j, const std::string& path, Keys known) {
    if (!j.is_object()) {
      d_.error(path, "expected an object, " + got(j));
      return false;
    }
    for (const auto& [key, value] : j.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string msg = "unknown key " + quote(key);
      std::string_view best;
      size_t best_d = 3;  // suggest only within 2 edits: further is a guess, not a typo
      for (auto k : known) {
        size_t dist = edit_distance(key, k);
        if (dist < best_d) best_d = dist, best = k;
      }
      if (!best.empty()) msg += "; did you mean " + quote(best) + "?";
      d_.error(path, msg);
    }
    return true;
  }

  // The member `key` of obj; nullptr when absent (an error when required).
  const json* member(const json& obj, const std::string& path, std::string_view key, bool required) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) d_.error(child(path, key), "missing (required)");
      return nullptr;
    }
    return &*it;
  }

  bool array(const json& j, const std::string& path) {
    if (j.is_array()) return true;
    d_.error(path, "expected an array, " + got(j));
    return false;
  }

  std::optional<std::string> string(const json& j, const std::string& path, bool allow_empty = false) {
    if (!j.is_string()) {
      d_.error(path, "expected a string, " + got(j));
      return std::nullopt;
    }
    auto s = j.get<std::string>();
    if (s.empty() && !allow_empty) {
      d_.error(path, "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<bool> boolean(const json& j, const std::string& path) {
    if (!j.is_boolean()) {
      d_.error(path, "expected true or false, " + got(j));
      return std::nullopt;
    }
    return j.get<bool>();
  }

  std::optional<uint64_t> integer(const json& j, const std::string& path, uint64_t lo, uint64_t hi) {
    std::string range = hi == std::numeric_limits<uint64_t>::max()
                            ? "must be at least " + std::to_string(lo)
                            : "must be " + std::to_string(lo) + "-" + std::to_string(hi);
    if (j.is_number_unsigned()) {
      uint64_t v = j.get<uint64_t>();
      if (v >= lo && v <= hi) return v;
      d_.error(path, range + ", got " + std::to_string(v));
    } else if (j.is_number_integer()) {  // negative: unsigned values took the branch above
      d_.error(path, range + ", got " + j.dump());
    } else {
      d_.error(path, "expected an integer, " + got(j));
    }
    return std::nullopt;
  }

  // One of a fixed set of words.
  std::optional<size_t> word(const json& j, const std::string& path, Keys words) {
    auto s = string(j, path);
    if (!s) return std::nullopt;
    for (size_t i = 0; i < words.size(); ++i)
      if (*s == words[i]) return i;
    std::string list;
    for (size_t i = 0; i < words.size(); ++i)
      list += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + std::string(words[i]);
    d_.error(path, "must be " + list + ", got " + quote(*s));
    return std::nullopt;
  }

  std::optional<net::IpAddr> address(const json& j, const std::string& path) {
    auto s = string(j, path);
    if (!s) return std::nullopt;
    if (auto a = net::IpAddr::parse(*s)) return a;
    if (s->find('/') != std::string::npos)
      d_.error(path, quote(*s) + " is not an address: write it without a prefix length");
    else
      d_.error(path, quote(*s) + " is not an IP address");
    return std::nullopt;
  }

  // "a.b.c.d/len", or a bare address meaning the one host (/32, /128). The
  // stored prefix is the network: "192.168.1.5/24" matches what the
  // operator evidently meant, 192.168.1.0/24, with a warning.
  std::optional<net::Prefix> network(const json& j, const std::string& path) {
    auto s = string(j, path);
    if (!s) return std::nullopt;
    std::optional<net::Prefix> p;
    if (s->find('/') == std::string::npos) {
      if (auto a = net::IpAddr::parse(*s)) p = net::Prefix{*a, uint8_t(a->is_v4() ? 32 : 128)};
    } else {
      p = net::Prefix::parse(*s);
    }
    if (!p) {
      d_.error(path, quote(*s) + " is not an address or prefix (a.b.c.d/len)");
      return std::nullopt;
    }
    if (p->network() != p->addr) {
      net::Prefix n{p->network(), p->len};
      d_.warning(path, quote(*s) + " has host bits set; it is taken as " + n.str());
      p = n;
    }
    return p;
  }

  // A rule's "any", or a network.
  std::optional<std::optional<net::Prefix>> any_or_network(const json& j, const std::string& path) {
    if (j.is_string() && j.get<std::string>() == "any") return std::optional<net::Prefix>{};
    auto p = network(j, path);
    if (!p) return std::nullopt;
    return std::optional<net::Prefix>{*p};
  }

  void read_node(const json& j, const std::string& path, Draft& out);
  void read_dataplane(const json& j, const std::string& path, Draft& out);
  void read_interface(const json& j, const std::string& path, Draft& out);
  void read_carp(const json& j, const std::string& path, Draft& out);
  void read_vip(const json& j, const std::string& path, Draft& out);
  void read_sync(const json& j, const std::string& path, Draft& out);
  void read_route(const json& j, const std::string& path, Draft& out);
  void read_nat(const json& j, const std::string& path, Draft& out);
  void read_outbound(const json& j, const std::string& path, Draft& out);
  void read_forward(const json& j, const std::string& path, Draft& out);
  void read_rule(const json& j, const std::string& path, Draft& out);
  void read_control(const json& j, const std::string& path, Draft& out);

  template <class F>
  void each(const json& obj, const std::string& path, std::string_view key, bool required, F&& f) {
    auto* arr = member(obj, path, key, required);
    if (!arr || !array(*arr, child(path, key))) return;
    for (size_t i = 0; i < arr->size(); ++i) f((*arr)[i], elem(child(path, key), i));
  }

  Diags& d_;
};

Draft Reader::read(const json& root) {
  Draft out;
  if (!object(root, "$", kRootKeys)) return out;
  const std::string r = "$";
  if (auto* j = member(root, r, "node", true)) read_node(*j, "node", out);
  if (auto* j = member(root, r, "dataplane", false)) read_dataplane(*j, "dataplane", out);
  each(root, r, "interfaces", true, [&](const json& j, const std::string& p) { read_interface(j, p, out); });
  if (auto it = root.find("interfaces"); it != root.end() && it->is_array() && it->empty())
    d_.error("interfaces", "must list at least one interface");
  if (auto* j = member(root, r, "carp", false)) read_carp(*j, "carp", out);
  if (auto* j = member(root, r, "sync", false)) read_sync(*j, "sync", out);
  each(root, r, "routes", false, [&](const json& j, const std::string& p) { read_route(j, p, out); });
  if (auto* j = member(root, r, "nat", false)) read_nat(*j, "nat", out);
  each(root, r, "rules", false, [&](const json& j, const std::string& p) { read_rule(j, p, out); });
  if (auto* j = member(root, r, "control", false)) read_control(*j, "control", out);
  return out;
}

void Reader::read_node(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kNodeKeys)) return;
  if (auto* v = member(j, path, "name", true))
    if (auto s = string(*v, child(path, "name"))) out.node.name = *s;
  if (auto* v = member(j, path, "role", true)) {
    constexpr std::string_view roles[] = {"primary", "secondary"};
    if (auto w = word(*v, child(path, "role"), roles)) {
      out.node.role = *w == 0 ? Role::Primary : Role::Secondary;
      out.role_ok = true;
    }
  }
}

void Reader::read_dataplane(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kDataplaneKeys)) return;
  each(j, path, "eal", false, [&](const json& a, const std::string& p) {
    if (auto s = string(a, p)) out.dataplane.eal.push_back(*s);
  });
  if (auto* v = member(j, path, "workers", false))
    if (auto n = integer(*v, child(path, "workers"), 1, kMaxWorkers)) out.dataplane.workers = unsigned(*n);
  if (auto* v = member(j, path, "max_states", false))
    // The state table indexes states in 31 bits and sizes its arrays once.
    if (auto n = integer(*v, child(path, "max_states"), 1, uint64_t(1) << 30))
      out.dataplane.max_states = uint32_t(*n);
  if (auto* v = member(j, path, "timeouts", false)) {
    const std::string tpath = child(path, "timeouts");
    if (object(*v, tpath, kTimeoutKeys)) {
      for (size_t i = 0; i < kTimeoutKeys.size(); ++i)
        if (auto* t = member(*v, tpath, kTimeoutKeys[i], false))
          if (auto n = integer(*t, child(tpath, kTimeoutKeys[i]), 1, kMaxTimeout))
            out.dataplane.timeouts[size_t(net::kTimeouts[i].id)] = uint32_t(*n);
    }
  }
  if (auto* v = member(j, path, "fragments", false)) {
    const std::string fpath = child(path, "fragments");
    if (object(*v, fpath, kFragmentKeys)) {
      // Each packet held costs up to 8 mbufs of the pool (about 18 KiB).
      if (auto* m = member(*v, fpath, "max_packets", false))
        if (auto n = integer(*m, child(fpath, "max_packets"), 1, 65536)) out.dataplane.fragments.max_packets = uint32_t(*n);
      if (auto* t = member(*v, fpath, "timeout_ms", false))
        if (auto n = integer(*t, child(fpath, "timeout_ms"), 1, 120000)) out.dataplane.fragments.timeout_ms = uint32_t(*n);
    }
  }
}

void Reader::read_interface(const json& j, const std::string& path, Draft& out) {
  InterfaceDraft it{.path = path, .v = {}};
  if (!object(j, path, kInterfaceKeys)) return;
  if (auto* v = member(j, path, "name", true)) {
    if (auto s = string(*v, child(path, "name"))) {
      out.declared_interfaces.push_back(*s);
      if (s->size() > kMaxIfName)
        d_.error(child(path, "name"), quote(*s) + " is longer than 15 bytes (pfsync carries the name in ifname[16])");
      else
        it.v.name = *s;
    }
  }
  if (auto* v = member(j, path, "port", true)) {
    // DPDK names a port by id (0, 1, ...) or by device ("net_af_packet0", a PCI address).
    if (v->is_number()) {
      if (auto n = integer(*v, child(path, "port"), 0, 65535)) it.v.port = std::to_string(*n);
    } else if (v->is_string()) {
      if (auto s = string(*v, child(path, "port"))) it.v.port = *s;
    } else {
      d_.error(child(path, "port"), "expected a port id (integer) or device name (string), " + got(*v));
    }
  }
  if (auto* v = member(j, path, "address", true)) {
    std::string p = child(path, "address");
    if (auto s = string(*v, p)) {
      auto pre = net::Prefix::parse(*s);
      if (!pre) {
        if (auto a = net::IpAddr::parse(*s); a && a->is_v4())
          d_.error(p, quote(*s) + " has no prefix length; write it as " + *s + "/24 (or the segment's length)");
        else
          d_.error(p, quote(*s) + " is not an IPv4 address with prefix length (a.b.c.d/len)");
      } else if (!pre->addr.is_v4()) {
        d_.error(p, quote(*s) + " is IPv6; put it in address6");
      } else {
        it.v.address = *pre;
        it.address_ok = true;
      }
    }
  }
  if (auto* v = member(j, path, "address6", false)) {
    std::string p = child(path, "address6");
    if (auto s = string(*v, p)) {
      auto pre = net::Prefix::parse(*s);
      if (!pre) {
        if (auto a = net::IpAddr::parse(*s); a && !a->is_v4())
          d_.error(p, quote(*s) + " has no prefix length; write it as " + *s + "/64 (or the segment's length)");
        else
          d_.error(p, quote(*s) + " is not an IPv6 address with prefix length (x:y::z/len)");
      } else if (pre->addr.is_v4()) {
        d_.error(p, quote(*s) + " is IPv4; put it in address");
      } else {
        it.v.address6 = *pre;
      }
    }
  }
  if (auto* v = member(j, path, "peer", false))
    if (auto a = address(*v, child(path, "peer"))) it.v.peer = *a;
  out.interfaces.push_back(std::move(it));
}

void Reader::read_carp(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kCarpKeys)) return;
  out.carp_present = true;
  if (auto* v = member(j, path, "preempt", false))
    if (auto b = boolean(*v, child(path, "preempt"))) out.carp.preempt = *b;
  if (auto* v = member(j, path, "demotion_scope", false)) {
    constexpr std::string_view scopes[] = {"node", "interface"};
    if (auto w = word(*v, child(path, "demotion_scope"), scopes))
      out.carp.demotion_scope = *w == 0 ? DemotionScope::Node : DemotionScope::Interface;
  }
  each(j, path, "vips", true, [&](const json& e, const std::string& p) { read_vip(e, p, out); });
}

void Reader::read_vip(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kVipKeys)) return;
  VipDraft vd{.path = path, .v = {}, .addrs = {}};
  if (auto* v = member(j, path, "interface", true))
    if (auto s = string(*v, child(path, "interface"))) vd.v.interface = *s;
  if (auto* v = member(j, path, "vhid", true))
    if (auto n = integer(*v, child(path, "vhid"), 1, 255)) vd.v.vhid = uint8_t(*n);
  each(j, path, "addresses", true, [&](const json& e, const std::string& p) {
    auto s = string(e, p);
    if (!s) return;
    VipAddrDraft a{.path = p, .addr = {}, .len = {}};
    if (s->find('/') != std::string::npos) {
      auto pre = net::Prefix::parse(*s);
      if (!pre) {
        d_.error(p, quote(*s) + " is not an address (a.b.c.d or a.b.c.d/len)");
        return;
      }
      a.addr = pre->addr;
      a.len = pre->len;
    } else {
      auto ip = net::IpAddr::parse(*s);
      if (!ip) {
        d_.error(p, quote(*s) + " is not an address (a.b.c.d or a.b.c.d/len)");
        return;
      }
      a.addr = *ip;
    }
    vd.addrs.push_back(std::move(a));
  });
  if (auto a = j.find("addresses"); a != j.end() && a->is_array() && a->empty())
    d_.error(child(path, "addresses"), "must list at least one address");
  if (auto* v = member(j, path, "password", false)) {
    std::string p = child(path, "password");
    if (auto s = string(*v, p, true)) {
      // FreeBSD copies the password into a 20-byte key with strlcpy, so a BSD
      // peer uses at most 19 bytes: a longer one makes the HMACs differ.
      if (s->empty())
        d_.error(p, "must not be empty: an unauthenticated VHID lets anyone on the segment take the VIP");
      else if (s->size() > 19)
        d_.error(p, "is " + std::to_string(s->size()) +
                        " bytes; at most 19 (BSD peers read at most 19 bytes, longer passwords fail their HMAC check)");
      else
        vd.v.password = *s, vd.password_ok = true;
    }
  } else {
    d_.error(child(path, "password"), "missing (required): every VIP needs a password, the key of the CARP HMAC");
  }
  if (auto* v = member(j, path, "advbase", false))
    if (auto n = integer(*v, child(path, "advbase"), 0, 255)) vd.v.advbase = uint8_t(*n);
  if (auto* v = member(j, path, "advskew", false))
    // 255 is reserved: advbase = advskew = 255 is the bow-out advert.
    if (auto n = integer(*v, child(path, "advskew"), 0, 254)) vd.v.advskew = uint8_t(*n);
  if (auto* v = member(j, path, "peer", false))
    if (auto a = address(*v, child(path, "peer"))) vd.v.peer = *a;
  if (auto* v = member(j, path, "description", false))
    if (auto s = string(*v, child(path, "description"), true)) vd.v.description = *s;
  out.vips.push_back(std::move(vd));
}

void Reader::read_sync(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kSyncKeys)) return;
  SyncDraft s{.path = path, .v = {}};
  if (auto* v = member(j, path, "interface", true))
    if (auto n = string(*v, child(path, "interface"))) s.v.interface = *n;
  if (auto* v = member(j, path, "peer", true))
    if (auto a = address(*v, child(path, "peer"))) s.v.peer = *a, s.peer_ok = true;
  if (auto* v = member(j, path, "key", false))
    if (auto k = string(*v, child(path, "key"))) s.v.key = *k;
  if (auto* v = member(j, path, "config_sync", false))
    if (auto b = boolean(*v, child(path, "config_sync"))) s.v.config_sync = *b;
  out.sync = std::move(s);
}

void Reader::read_route(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kRouteKeys)) return;
  RouteDraft r{.path = path, .v = {}};
  if (auto* v = member(j, path, "destination", true))
    if (auto p = network(*v, child(path, "destination"))) r.v.destination = *p, r.destination_ok = true;
  if (auto* v = member(j, path, "gateway", true))
    if (auto a = address(*v, child(path, "gateway"))) r.v.gateway = *a, r.gateway_ok = true;
  out.routes.push_back(std::move(r));
}

void Reader::read_nat(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kNatKeys)) return;
  each(j, path, "outbound", false, [&](const json& e, const std::string& p) { read_outbound(e, p, out); });
  each(j, path, "port_forwards", false, [&](const json& e, const std::string& p) { read_forward(e, p, out); });
}

void Reader::read_outbound(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kOutboundKeys)) return;
  OutboundDraft o{.path = path, .v = {}};
  if (auto* v = member(j, path, "interface", true))
    if (auto s = string(*v, child(path, "interface"))) o.v.interface = *s;
  if (auto* v = member(j, path, "source", true))
    if (auto p = network(*v, child(path, "source"))) o.v.source = *p, o.source_ok = true;
  if (auto* v = member(j, path, "translation", true))
    if (auto a = address(*v, child(path, "translation"))) o.v.translation = *a, o.translation_ok = true;
  out.outbound.push_back(std::move(o));
}

void Reader::read_forward(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kForwardKeys)) return;
  ForwardDraft f{.path = path, .v = {}};
  if (auto* v = member(j, path, "interface", true))
    if (auto s = string(*v, child(path, "interface"))) f.v.interface = *s;
  if (auto* v = member(j, path, "protocol", true)) {
    constexpr std::string_view protos[] = {"tcp", "udp"};  // a forward needs a port
    if (auto w = word(*v, child(path, "protocol"), protos)) f.v.protocol = *w == 0 ? net::kProtoTcp : net::kProtoUdp;
  }
  if (auto* v = member(j, path, "destination", true))
    if (auto a = address(*v, child(path, "destination"))) f.v.destination = *a, f.destination_ok = true;
  if (auto* v = member(j, path, "port", true))
    if (auto n = integer(*v, child(path, "port"), 1, 65535)) f.v.port = uint16_t(*n);
  if (auto* v = member(j, path, "target", true))
    if (auto a = address(*v, child(path, "target"))) f.v.target = *a, f.target_ok = true;
  if (auto* v = member(j, path, "target_port", true))
    if (auto n = integer(*v, child(path, "target_port"), 1, 65535)) f.v.target_port = uint16_t(*n);
  out.forwards.push_back(std::move(f));
}

void Reader::read_rule(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kRuleKeys)) return;
  RuleDraft r{.path = path, .v = {}};
  if (auto* v = member(j, path, "action", true)) {
    constexpr std::string_view actions[] = {"pass", "block"};
    if (auto w = word(*v, child(path, "action"), actions)) r.v.action = *w == 0 ? Action::Pass : Action::Block;
  }
  if (auto* v = member(j, path, "interface", true))
    if (auto s = string(*v, child(path, "interface"))) r.v.interface = *s;
  if (auto* v = member(j, path, "direction", true)) {
    constexpr std::string_view dirs[] = {"in", "out"};
    if (auto w = word(*v, child(path, "direction"), dirs)) r.v.direction = *w == 0 ? Direction::In : Direction::Out;
  }
  bool ported = false;
  if (auto* v = member(j, path, "protocol", true)) {
    constexpr std::string_view protos[] = {"tcp", "udp", "icmp", "icmp6", "any"};
    constexpr std::optional<uint8_t> numbers[] = {net::kProtoTcp, net::kProtoUdp, net::kProtoIcmp, net::kProtoIcmpv6,
                                                  std::nullopt};
    static_assert(std::size(protos) == std::size(numbers));
    if (auto w = word(*v, child(path, "protocol"), protos)) {
      r.v.protocol = numbers[*w];
      ported = *w < 2;
    } else {
      ported = true;  // unknown protocol already reported; do not add a port error on top
    }
  }
  if (auto* v = member(j, path, "source", true))
    if (auto p = any_or_network(*v, child(path, "source"))) r.v.source = *p;
  if (auto* v = member(j, path, "destination", true))
    if (auto p = any_or_network(*v, child(path, "destination"))) r.v.destination = *p;
  if (auto* v = member(j, path, "port", false)) {
    if (auto n = integer(*v, child(path, "port"), 1, 65535)) {
      r.v.port = uint16_t(*n);
      if (!ported) d_.error(child(path, "port"), "a port needs protocol tcp or udp");
    }
  }
  if (auto* v = member(j, path, "keep_state", false))
    if (auto b = boolean(*v, child(path, "keep_state"))) r.v.keep_state = *b;
  out.rules.push_back(std::move(r));
}

void Reader::read_control(const json& j, const std::string& path, Draft& out) {
  if (!object(j, path, kControlKeys)) return;
  auto absolute = [&](const char* key, std::string& field) {
    if (auto* v = member(j, path, key, false)) {
      if (auto s = string(*v, child(path, key))) {
        if ((*s)[0] != '/')
          d_.error(child(path, key), quote(*s) + " must be an absolute path (hafwd may run from any directory)");
        else
          field = *s;
      }
    }
  };
  absolute("socket", out.control.socket);
  absolute("state_dir", out.control.state_dir);
  // Linux's SCHED_FIFO range is 1-99; 0 leaves the thread at normal priority.
  if (auto* v = member(j, path, "realtime_priority", false))
    if (auto n = integer(*v, child(path, "realtime_priority"), 0, 99)) out.control.realtime_priority = int(*n);
}

Config build(Draft&& d) {
  Config c;
  c.node = std::move(d.node);
  c.dataplane = std::move(d.dataplane);
  for (auto& i : d.interfaces) c.interfaces.push_back(std::move(i.v));
  c.carp = std::move(d.carp);
  for (auto& v : d.vips) {
    for (auto& a : v.addrs) v.v.addresses.push_back(a.addr);
    c.carp.vips.push_back(std::move(v.v));
  }
  if (d.sync) c.sync = std::move(d.sync->v);
  for (auto& r : d.routes) c.routes.push_back(std::move(r.v));
  for (auto& o : d.outbound) c.nat.outbound.push_back(std::move(o.v));
  for (auto& f : d.forwards) c.nat.port_forwards.push_back(std::move(f.v));
  for (auto& r : d.rules) c.rules.push_back(std::move(r.v));
  c.control = std::move(d.control);
  return c;
}

// nlohmann keeps the last of two equal keys without a word; in a firewall
// config that hides an edit, so duplicates are errors. The parse callback
// sees keys in order; this tracks the path to name them.
class DuplicateKeys {
 public:
  explicit DuplicateKeys(Diags& d) : d_(d) {}

  bool operator()(int depth, json::parse_event_t ev, json& parsed) {
    // The schema is 4 levels deep. Past kMaxDepth the file is wrong anyway:
    // say so once and track nothing more, so hostile nesting costs nothing.
    if (depth > kMaxDepth) {
      if (!too_deep_) d_.error("$", "nested deeper than " + std::to_string(kMaxDepth) + " levels");
      too_deep_ = true;
      return true;
    }
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (!stack_.empty() && !stack_.back().object) ++stack_.back().count;
        stack_.push_back({ev == json::parse_event_t::object_start, {}, {}, 0});
        break;
      case json::parse_event_t::key: {
        if (stack_.empty()) break;
        auto& top = stack_.back();
        top.key = parsed.get<std::string>();
        if (!top.seen.insert(top.key).second)
          d_.error(path(), "duplicate key " + quote(top.key) + " (a JSON reader keeps only one)");
        break;
      }
      case json::parse_event_t::value:
        if (!stack_.empty() && !stack_.back().object) ++stack_.back().count;
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack_.empty()) stack_.pop_back();
        break;
    }
    return true;
  }

 private:
  // Frames hold no path: a deeply nested hostile file would make storing one
  // per level quadratic. The path is built only for a duplicate.
  struct Frame {
    bool object;
    std::string key;  // current key (object)
    std::set<std::string> seen;
    size_t count;     // elements started so far (array)
  };

  std::string path() const {
    std::string p = "$";
    for (const auto& f : stack_) p = f.object ? child(p, f.key) : elem(p, f.count - 1);
    return p;
  }

  static constexpr int kMaxDepth = 32;
  bool too_deep_ = false;

  Diags& d_;
  std::vector<Frame> stack_;
};

// "invalid JSON at line 3, column 6: syntax error while parsing ...": the
// position counted from the byte offset, the reason from nlohmann's message
// without its own prefix.
std::string json_error(std::string_view text, const json::parse_error& e) {
  size_t at = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
  size_t line = 1 + size_t(std::count(text.begin(), text.begin() + ptrdiff_t(at), '\n'));
  size_t nl = text.rfind('\n', at == 0 ? 0 : at - 1);
  size_t column = (nl == std::string_view::npos || nl >= at) ? at + 1 : at - nl;
  if (at == 0) column = 1;
  std::string what = e.what();
  std::string reason = what;
  if (auto col = what.find("column "); col != std::string::npos)
    if (auto colon = what.find(": ", col); colon != std::string::npos) reason = what.substr(colon + 2);
  return "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason;
}

}  // namespace

LoadResult parse(std::string_view text) {
  Diags diags;
  // A node's file is a few KiB; refusing megabytes bounds what a bad path or
  // a hostile file can cost the daemon on config.reload.
  constexpr size_t kMaxConfigBytes = 4u << 20;
  if (text.size() > kMaxConfigBytes) {
    diags.error("$", "file is " + std::to_string(text.size()) + " bytes; a config is at most 4 MiB");
    return {std::nullopt, diags.take()};
  }
  json root;
  {
    Diags dups;
    try {
      root = json::parse(text.begin(), text.end(), DuplicateKeys(dups));
    } catch (const json::parse_error& e) {
      diags.error("$", json_error(text, e));
      return {std::nullopt, diags.take()};
    } catch (const json::exception& e) {  // e.g. a number too large for a double
      std::string what = e.what();
      auto sp = what.find("] ");
      diags.error("$", "invalid JSON: " + (sp == std::string::npos ? what : what.substr(sp + 2)));
      return {std::nullopt, diags.take()};
    }
    diags = std::move(dups);
  }
  Draft draft = Reader(diags).read(root);
  check_rules(draft, diags);
  if (diags.has_error()) return {std::nullopt, diags.take()};
  Config c = build(std::move(draft));
  return {std::move(c), diags.take()};
}

LoadResult load(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Diags diags;
    diags.error("$", "cannot read " + path + ": " + std::strerror(errno));
    return {std::nullopt, diags.take()};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (text) *text = ss.str();
  return parse(ss.str());
}

}  // namespace hafw::config
