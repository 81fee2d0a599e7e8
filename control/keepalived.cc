// keepalived.conf -> hafw's carp section: lexer (lines, words, includes),
// block parser, then the conversion of each vrrp_instance.
#include "control/keepalived.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "dataplane/net/net.h"

namespace hafw::config::keepalived {

using nlohmann::json;

std::string Where::str() const {
  std::string s = file.empty() ? "" : file + ": ";
  return s + "line " + std::to_string(line);
}

namespace {

// Includes deeper than this are a file including itself (keepalived's own
// limit is 8 as well).
constexpr int kMaxIncludeDepth = 8;
// keepalived's deepest real nesting is 3 (vrrp_instance > authentication);
// the cap bounds the parser's recursion on a broken file.
constexpr int kMaxBlockDepth = 32;
// VRRPv2's PASS authentication carries 8 bytes: keepalived sends only the
// first 8 characters of a longer auth_pass.
constexpr size_t kVrrpPassBytes = 8;
// The longest CARP password a BSD peer reads in full (docs/config.md).
constexpr size_t kMaxPassword = 19;
// FreeBSD clamps advskew plus demotion to 240; above it demotion has no room.
constexpr unsigned kSkewHeadroom = 240;

struct ParseError {
  Where where;
  std::string message;
};

struct Word {
  std::string text;
  bool quoted = false;
  bool is(std::string_view s) const { return !quoted && text == s; }
};

struct Line {
  Where where;
  std::vector<Word> words;
};

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// One line's words. `{` and `}` are words of their own wherever they are
// (outside quotes); an unquoted word that starts with # or ! ends the line.
std::vector<Word> split_words(std::string_view s, const Where& where) {
  std::vector<Word> words;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
      ++i;
      continue;
    }
    if (c == '#' || c == '!') break;
    if (c == '{' || c == '}') {
      words.push_back({std::string(1, c), false});
      ++i;
      continue;
    }
    if (c == '"') {
      std::string text;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size() && (s[j + 1] == '"' || s[j + 1] == '\\')) ++j;
        text.push_back(s[j]);
      }
      if (j >= s.size()) throw ParseError{where, "unterminated quoted string"};
      words.push_back({std::move(text), true});
      i = j + 1;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\v' && s[j] != '\f' &&
           s[j] != '{' && s[j] != '}' && s[j] != '"')
      ++j;
    words.push_back({std::string(s.substr(i, j - i)), false});
    i = j;
  }
  return words;
}

// Every line of `text` and of the files it includes, in reading order.
void lex(std::string_view text, const std::string& file, const std::string& dir, const Includer& includer,
         int depth, std::vector<Line>& out) {
  int number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    Line line{Where{file, ++number}, {}};
    line.words = split_words(text.substr(pos, end - pos), line.where);
    pos = end + 1;
    if (line.words.empty()) continue;
    if (!line.words[0].is("include")) {
      out.push_back(std::move(line));
      continue;
    }
    if (line.words.size() != 2) throw ParseError{line.where, "include needs one file name or pattern"};
    if (depth >= kMaxIncludeDepth)
      throw ParseError{line.where, "includes nested deeper than " + std::to_string(kMaxIncludeDepth) +
                                       " (does a file include itself?)"};
    std::vector<Source> sources;
    try {
      sources = includer(line.words[1].text, dir);
    } catch (const std::exception& e) {
      throw ParseError{line.where, std::string("include ") + line.words[1].text + ": " + e.what()};
    }
    for (const auto& src : sources) lex(src.text, src.path, dir_of(src.path), includer, depth + 1, out);
  }
}

// A keyword, its arguments on the same line, and its block if it has one.
struct Stmt {
  Where where;
  std::string key;
  std::vector<Word> args;
  bool block = false;
  std::vector<Stmt> children;

  std::string arg_text() const {
    std::string s;
    for (const auto& a : args) s += (s.empty() ? "" : " ") + a.text;
    return s;
  }
};

// The lines as one stream of words, each line ended by a marker: a
// statement is the words of one line, so the parser must see line ends.
struct Tok {
  Word word;
  Where where;
  bool eol = false;
};

class Parser {
 public:
  explicit Parser(const std::vector<Line>& lines) {
    for (const auto& l : lines) {
      for (const auto& w : l.words) toks_.push_back({w, l.where, false});
      toks_.push_back({{}, l.where, true});
    }
  }

  std::vector<Stmt> parse() { return body(nullptr, 0); }

 private:
  // Statements up to the `}` that closes the block opened at `opened`, or
  // to the end of input at the top level.
  std::vector<Stmt> body(const Where* opened, int depth) {
    std::vector<Stmt> out;
    bool open_stmt = false;  // the last statement still takes words from this line
    while (next_ < toks_.size()) {
      const Tok& t = toks_[next_++];
      if (t.eol) {
        open_stmt = false;
      } else if (t.word.is("{")) {
        // The brace opens the block of this line's statement, or of the
        // previous line's when it stands alone ("vrrp_instance X" / "{").
        if (out.empty() || out.back().block) throw ParseError{t.where, "'{' without a keyword before it"};
        if (depth + 1 > kMaxBlockDepth)
          throw ParseError{t.where, "blocks nested deeper than " + std::to_string(kMaxBlockDepth)};
        const Where at = t.where;
        std::vector<Stmt> children = body(&at, depth + 1);
        out.back().block = true;
        out.back().children = std::move(children);
        open_stmt = false;  // words after the closing brace start a statement
      } else if (t.word.is("}")) {
        if (!opened) throw ParseError{t.where, "'}' without a block to close"};
        return out;
      } else if (open_stmt) {
        out.back().args.push_back(t.word);
      } else {
        out.push_back(Stmt{.where = t.where, .key = t.word.text, .args = {}, .block = false, .children = {}});
        open_stmt = true;
      }
    }
    if (opened) throw ParseError{*opened, "'{' is never closed"};
    return out;
  }

  std::vector<Tok> toks_;
  size_t next_ = 0;
};

// ---------------------------------------------------------------- values

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

const std::string& one_arg(const Stmt& s) {
  if (s.args.size() != 1) throw ParseError{s.where, s.key + " needs one value, got " + std::to_string(s.args.size())};
  return s.args[0].text;
}

unsigned whole(const Stmt& s, unsigned lo, unsigned hi) {
  const std::string& v = one_arg(s);
  unsigned n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi)
    throw ParseError{s.where, s.key + " " + quote(v) + ": must be a whole number " + std::to_string(lo) + "-" +
                                  std::to_string(hi)};
  return n;
}

// advert_int in seconds: VRRPv2 whole seconds, VRRPv3 down to centiseconds.
double seconds(const Stmt& s) {
  const std::string& v = one_arg(s);
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d, std::chars_format::fixed);
  if (ec != std::errc() || end != v.data() + v.size() || !(d > 0) || d > 255)
    throw ParseError{s.where, s.key + " " + quote(v) + ": must be a number of seconds above 0, at most 255"};
  return d;
}

net::IpAddr address(const Stmt& s, const std::string& text, std::string* with_len) {
  if (text.find('/') != std::string::npos) {
    if (auto p = net::Prefix::parse(text)) {
      if (with_len) *with_len = p->str();
      return p->addr;
    }
  } else if (auto a = net::IpAddr::parse(text)) {
    if (with_len) *with_len = a->str();
    return *a;
  }
  throw ParseError{s.where, quote(text) + " is not an address (a.b.c.d, a.b.c.d/len or an IPv6 address)"};
}

// What an operator does instead of a keepalived feature hafw does not have.
const std::map<std::string, std::string, std::less<>>& instead() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"track_script",
       "hafw runs no check scripts; run the check from a systemd timer or cron and call "
       "`hafwctl carp demote +N` when it fails, `-N` when it recovers"},
      {"track_interface",
       "hafw watches the link of every interface that carries a VHID and of the sync interface (a link down "
       "demotes the node); it cannot watch other interfaces"},
      {"track_file", "hafw reads no weight files; use `hafwctl carp demote +N` / `-N`"},
      {"track_process", "hafw watches no processes; use `hafwctl carp demote +N` / `-N` from a watchdog"},
      {"track_bfd", "hafw has no BFD"},
      {"notify", "hafw runs no notify scripts; follow `hafwctl events -f` or the log (event=state_change)"},
      {"notify_master", "hafw runs no notify scripts; follow `hafwctl events -f` or the log (event=state_change)"},
      {"notify_backup", "hafw runs no notify scripts; follow `hafwctl events -f` or the log (event=state_change)"},
      {"notify_fault", "hafw runs no notify scripts; follow `hafwctl events -f` or the log (event=state_change)"},
      {"notify_stop", "hafw runs no notify scripts; follow `hafwctl events -f` or the log (event=state_change)"},
      {"notify_deleted", "hafw runs no notify scripts; follow `hafwctl events -f` or the log (event=state_change)"},
      {"notify_master_rx_lower_pri", "hafw runs no notify scripts; follow `hafwctl events -f` or the log"},
      {"smtp_alert", "hafw sends no mail; alert from its log or its counters (docs/operations.md)"},
      {"preempt_delay",
       "hafw's returning primary always listens one master-down interval before it preempts; the delay is not "
       "configurable"},
      {"use_vmac", "hafw always answers for a VIP from the virtual MAC 00:00:5e:00:01:VHID; nothing to set"},
      {"vmac_xmit_base", "hafw always sends adverts from the virtual MAC"},
      {"garp_master_delay",
       "hafw sends gratuitous ARPs on becoming MASTER and again after two adverts; not configurable"},
      {"garp_master_repeat",
       "hafw sends gratuitous ARPs on becoming MASTER and again after two adverts; not configurable"},
      {"garp_master_refresh",
       "hafw sends gratuitous ARPs on becoming MASTER and again after two adverts; not configurable"},
      {"garp_master_refresh_repeat",
       "hafw sends gratuitous ARPs on becoming MASTER and again after two adverts; not configurable"},
      {"garp_lower_prio_delay", "hafw sends no gratuitous ARP as BACKUP"},
      {"garp_lower_prio_repeat", "hafw sends no gratuitous ARP as BACKUP"},
      {"mcast_src_ip", "hafw sends adverts from the interface's own address (interfaces[].address)"},
      {"unicast_src_ip",
       "hafw sends unicast adverts from the interface's own address: make interfaces[].address that address"},
      {"dont_track_primary", "hafw always watches the link of a VHID's interface"},
      {"virtual_routes", "put the node's routes in the routes section"},
      {"virtual_rules", "hafw has no policy routing"},
      {"lvs_sync_daemon_interface", "hafw has no LVS; state sync is the sync section"},
      {"accept", "hafw answers for a VIP it owns as MASTER (ping, ARP) and forwards through it"},
      {"no_accept", "hafw answers for a VIP it owns as MASTER (ping, ARP) and forwards through it"},
      {"strict_mode", "hafw checks every advert (TTL 255, HMAC, version) always"},
      {"native_ipv6", "a VHID's addresses are listed in carp.vips[].addresses"},
      // Top-level blocks.
      {"vrrp_sync_group",
       "hafw has no sync groups; a failed link demotes the whole node, so every VHID moves to the peer "
       "together, as a sync group would"},
      {"vrrp_script",
       "hafw runs no check scripts; run the check from a systemd timer or cron and call "
       "`hafwctl carp demote +N` when it fails, `-N` when it recovers"},
      {"vrrp_track_process", "hafw watches no processes; use `hafwctl carp demote +N` / `-N` from a watchdog"},
      {"vrrp_track_file", "hafw reads no weight files; use `hafwctl carp demote +N` / `-N`"},
      {"bfd_instance", "hafw has no BFD"},
      {"virtual_server", "hafw has no LVS load balancing; one fixed target is a nat.port_forwards entry"},
      {"virtual_server_group", "hafw has no LVS load balancing; one fixed target is a nat.port_forwards entry"},
      {"static_ipaddress", "put the node's own addresses in the interfaces section"},
      {"static_routes", "put the node's routes in the routes section"},
      {"static_rules", "hafw has no policy routing"},
      {"global_defs",
       "its router_id, notification e-mail and script settings are keepalived's own (the node's name is "
       "node.name)"},
  };
  return m;
}

// ---------------------------------------------------------------- conversion

struct Converter {
  std::vector<Note> warnings;
  json vips = json::array();
  bool any_nopreempt = false;
  bool any_preempt = false;  // an instance without nopreempt
  std::vector<std::string> preempt_names, nopreempt_names;

  void warn(const Where& w, std::string message) { warnings.push_back({w, std::move(message)}); }

  void not_converted(const Stmt& s, std::string_view what) {
    auto it = instead().find(s.key);
    std::string head = std::string(what);
    if (it != instead().end())
      warn(s.where, head + " has no hafw equivalent: " + it->second);
    else
      warn(s.where, head + ": not converted (not a keyword this converter knows)");
  }

  static std::string named(const Stmt& s) { return s.args.empty() ? s.key : s.key + " " + s.arg_text(); }

  void top(const std::vector<Stmt>& stmts) {
    for (const auto& s : stmts) {
      if (s.key == "vrrp_instance") {
        instance(s);
      } else if (s.key == "global_defs") {
        if (!s.children.empty()) not_converted(s, "global_defs");
      } else {
        not_converted(s, named(s));
      }
    }
  }

  struct Group {  // the addresses of one interface
    std::string dev;
    Where where;
    json addresses = json::array();
  };

  void addresses(const Stmt& block, const std::string& iface, std::vector<Group>& groups, bool excluded) {
    if (!block.block) throw ParseError{block.where, block.key + " needs a { ... } block of addresses"};
    if (excluded && !block.children.empty())
      warn(block.where,
           "virtual_ipaddress_excluded: added to the VIP's addresses: CARP has no excluded addresses (its HMAC "
           "covers every address, so both nodes need the same list)");
    for (const auto& a : block.children) {
      std::string text;
      address(a, a.key, &text);
      std::string dev = iface;
      for (size_t i = 0; i < a.args.size(); ++i) {
        if (!a.args[i].is("dev")) continue;
        if (i + 1 >= a.args.size()) throw ParseError{a.where, "dev needs an interface name"};
        dev = a.args[i + 1].text;
      }
      auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.dev == dev; });
      if (g == groups.end()) {
        groups.push_back({dev, a.where, json::array()});
        g = groups.end() - 1;
      }
      g->addresses.push_back(text);
    }
  }

  void instance(const Stmt& inst) {
    if (inst.args.size() != 1) throw ParseError{inst.where, "vrrp_instance needs one name"};
    if (!inst.block) throw ParseError{inst.where, "vrrp_instance " + inst.args[0].text + " needs a { ... } block"};
    const std::string name = inst.args[0].text;
    std::optional<std::string> iface;
    std::optional<unsigned> vrid;
    unsigned priority = 100;  // keepalived's defaults
    double advert = 1;
    std::optional<std::string> password;
    bool nopreempt = false;
    std::optional<std::string> peer;
    std::vector<Group> groups;
    const Stmt* vip_block = nullptr;
    const Stmt* excluded_block = nullptr;
    const Stmt* advert_stmt = nullptr;
    const Stmt* priority_stmt = nullptr;

    for (const auto& s : inst.children) {
      if (s.key == "interface") {
        iface = one_arg(s);
      } else if (s.key == "virtual_router_id") {
        vrid = whole(s, 1, 255);
      } else if (s.key == "priority") {
        priority = whole(s, 1, 255);
        priority_stmt = &s;
      } else if (s.key == "advert_int") {
        advert = seconds(s);
        advert_stmt = &s;
      } else if (s.key == "state") {
        const std::string& v = one_arg(s);
        if (v != "MASTER" && v != "BACKUP")
          throw ParseError{s.where, "state " + quote(v) + ": must be MASTER or BACKUP"};
        // The initial state has no CARP counterpart: every VHID starts as
        // BACKUP and the election decides (docs: node.role).
      } else if (s.key == "authentication") {
        password = authentication(s);
      } else if (s.key == "virtual_ipaddress") {
        vip_block = &s;
      } else if (s.key == "virtual_ipaddress_excluded") {
        excluded_block = &s;
      } else if (s.key == "nopreempt") {
        nopreempt = true;
      } else if (s.key == "preempt") {
        nopreempt = false;
      } else if (s.key == "unicast_peer") {
        if (!s.block) throw ParseError{s.where, "unicast_peer needs a { ... } block of addresses"};
        for (const auto& p : s.children) {
          const net::IpAddr a = address(p, p.key, nullptr);
          if (!peer)
            peer = a.str();
          else
            warn(p.where, "unicast_peer " + a.str() + ": hafw sends unicast adverts to one peer; only " + *peer +
                              " kept (a cluster is two nodes)");
        }
      } else if (s.key == "version") {
        const unsigned v = whole(s, 2, 3);
        if (v == 3)
          warn(s.where,
               "version 3 has no hafw equivalent: hafw speaks CARP (OpenBSD's protocol), not VRRPv3; the "
               "instance is converted as VRRPv2 would be (whole-second adverts)");
      } else if (s.key == "debug") {
        // keepalived's log level for the instance: nothing to convert.
      } else {
        not_converted(s, named(s));
      }
    }
    if (!iface) throw ParseError{inst.where, "vrrp_instance " + name + ": no interface"};
    if (!vrid) throw ParseError{inst.where, "vrrp_instance " + name + ": no virtual_router_id"};
    if (vip_block) addresses(*vip_block, *iface, groups, false);
    if (excluded_block) addresses(*excluded_block, *iface, groups, true);
    if (groups.empty()) {
      warn(inst.where, "vrrp_instance " + name +
                           " has no virtual_ipaddress: its VIP is written with no addresses, which hafwctl check "
                           "refuses; add them");
      groups.push_back({*iface, inst.where, json::array()});
    }
    if (!password)
      warn(inst.where, "vrrp_instance " + name +
                           " has no authentication: hafw requires a password (the key of CARP's HMAC); set "
                           "carp.vips[].password, the same on both nodes");

    const unsigned advbase = unsigned(std::ceil(advert));
    if (double(advbase) != advert)
      warn(advert_stmt->where,
           "advert_int " + advert_stmt->args[0].text + ": CARP's advbase is whole seconds; rounded up to " +
               std::to_string(advbase) +
               " (the backup takes over after about 3 x advbase s); for sub-second failover see OpenBSD's "
               "advbase 0 mode in docs/operations.md");
    const unsigned advskew = advskew_for_priority(priority);
    if (advskew > kSkewHeadroom)
      warn(priority_stmt->where, "priority " + std::to_string(priority) + " gives advskew " +
                                     std::to_string(advskew) +
                                     ", above 240: a FreeBSD peer could not demote it further; use a priority "
                                     "of 16 or more");

    (nopreempt ? nopreempt_names : preempt_names).push_back(name);
    for (const auto& g : groups) {
      if (g.dev != *iface)
        warn(g.where, "addresses on dev " + g.dev + ", not on " + *iface + ": written as a VHID of their own on " +
                          g.dev + ", which elects its master on its own (keepalived moved them with " + *iface +
                          ")");
      json v = {{"interface", g.dev},
                {"vhid", *vrid},
                {"addresses", g.addresses},
                {"advbase", advbase},
                {"advskew", advskew},
                {"description", g.dev == *iface ? name : name + " (dev " + g.dev + ")"}};
      if (password) v["password"] = *password;
      if (peer) v["peer"] = *peer;
      for (const auto& o : vips)
        if (o["interface"] == v["interface"] && o["vhid"] == v["vhid"])
          warn(inst.where, "vrrp_instance " + name + ": vhid " + std::to_string(*vrid) + " is already used on " +
                               g.dev + " by " + o["description"].get<std::string>() +
                               "; hafwctl check refuses two VIPs with one VHID on an interface");
      vips.push_back(std::move(v));
    }
  }

  std::optional<std::string> authentication(const Stmt& s) {
    if (!s.block) throw ParseError{s.where, "authentication needs a { ... } block"};
    std::string type = "PASS";
    const Stmt* pass = nullptr;
    for (const auto& c : s.children) {
      if (c.key == "auth_type") {
        type = one_arg(c);
        if (type != "PASS" && type != "AH")
          throw ParseError{c.where, "auth_type " + quote(type) + ": must be PASS or AH"};
        if (type == "AH")
          warn(c.where,
               "auth_type AH has no hafw equivalent: CARP authenticates every advert with an HMAC-SHA1 keyed by "
               "the password; auth_pass is used as that password");
      } else if (c.key == "auth_pass") {
        one_arg(c);
        pass = &c;
      } else {
        not_converted(c, named(c));
      }
    }
    if (!pass) return std::nullopt;
    std::string p = pass->args[0].text;
    if (p.empty()) return std::nullopt;
    if (p.size() > kMaxPassword) {
      warn(pass->where, "auth_pass is " + std::to_string(p.size()) +
                            " bytes, more than hafw's 19: cut to the first 8, the part keepalived sent (VRRPv2 "
                            "carries 8)");
      p.resize(kVrrpPassBytes);
    } else if (p.size() > kVrrpPassBytes && type == "PASS") {
      warn(pass->where,
           "auth_pass is " + std::to_string(p.size()) +
               " bytes: keepalived sent only its first 8, hafw uses all of it (fine when both nodes move to hafw)");
    }
    return p;
  }
};

}  // namespace

unsigned advskew_for_priority(unsigned priority) {
  if (priority >= 255) return 0;
  if (priority < 2) return 254;
  return 256 - priority;
}

std::vector<Source> read_includes(const std::string& pattern, const std::string& dir) {
  const std::string full = pattern.starts_with('/') || dir.empty() ? pattern : dir + "/" + pattern;
  const bool is_glob = full.find_first_of("*?[") != std::string::npos;
  glob_t g{};
  const int rc = ::glob(full.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOMATCH && !is_glob) throw std::runtime_error("cannot read " + full + ": No such file or directory");
  if (rc != 0 && rc != GLOB_NOMATCH) throw std::runtime_error("cannot read " + full);
  std::vector<Source> out;
  for (const auto& p : paths) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    if (!f) throw std::runtime_error("cannot read " + p);
    out.push_back({p, ss.str()});
  }
  return out;
}

Result convert(std::string_view text, const std::string& main_dir, const Includer& includer) {
  Result r;
  try {
    std::vector<Line> lines;
    lex(text, "", main_dir, includer, 0, lines);
    const std::vector<Stmt> stmts = Parser(lines).parse();
    Converter c;
    c.top(stmts);
    r.warnings = std::move(c.warnings);
    if (c.vips.empty()) {
      r.error = Note{Where{}, "no vrrp_instance in the file: nothing to convert"};
      return r;
    }
    // hafw's preemption is one switch for the node.
    const bool preempt = c.nopreempt_names.empty();
    if (!c.nopreempt_names.empty() && !c.preempt_names.empty())
      r.warnings.push_back({Where{}, "nopreempt is set on " + c.nopreempt_names.front() + " but not on " +
                                         c.preempt_names.front() +
                                         ": hafw's carp.preempt is one switch for the node; written as false"});
    r.carp = json{{"carp", {{"preempt", preempt}, {"vips", std::move(c.vips)}}}};
  } catch (const ParseError& e) {
    r.error = Note{e.where, e.message};
  }
  return r;
}

namespace {

void print(std::ostream& err, std::string_view kind, const Note& n) {
  err << kind << ": ";
  if (n.where.line > 0) err << n.where.str() << ": ";
  err << n.message << '\n';
}

}  // namespace

int import_command(const std::string& path, std::ostream& out, std::ostream& err) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  if (f) ss << f.rdbuf();
  if (!f) {
    err << "error: " << path << ": cannot read: " << (errno ? std::strerror(errno) : "read failed") << '\n';
    return 1;
  }
  const Result r = convert(ss.str(), dir_of(path), read_includes);
  for (const auto& w : r.warnings) print(err, "warning", w);
  if (r.error) {
    print(err, "error", *r.error);
    return 1;
  }
  out << r.carp->dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  return 0;
}

}  // namespace hafw::config::keepalived
