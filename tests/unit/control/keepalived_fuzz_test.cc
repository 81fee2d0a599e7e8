// Bad input never crashes the keepalived converter: seeded mutations of a
// realistic keepalived.conf (bytes, words, braces, quotes, includes), each
// must give either a carp section hafw's ranges accept or an error, never
// both, never an exception.
#include <catch2/catch.hpp>

#include <random>

#include "control/keepalived.h"
#include "tests/unit/control/mutate.h"

using namespace hafw::config::keepalived;
using hafw::test::mutate_bytes;
using nlohmann::json;

namespace {

const char* const kBase = R"(! lb1
global_defs {
   router_id LB1
}
vrrp_script chk { script "/bin/true" }
vrrp_instance VI_1 {
    state MASTER
    interface wan
    virtual_router_id 51
    priority 150
    advert_int 1
    nopreempt
    authentication {
        auth_type PASS
        auth_pass secret
    }
    unicast_peer {
        10.0.0.2
    }
    virtual_ipaddress {
        198.51.100.200/24 dev wan
        198.51.100.201 dev lan
    }
    include extra.conf
    track_script {
        chk
    }
}
vrrp_instance VI_2
{
    interface lan
    virtual_router_id 52
    virtual_ipaddress { 192.168.1.1 }
}
)";

// Words from keepalived's grammar and values of every kind make word-level
// mutations reach the conversion, not just the lexer.
const char* const kWords[] = {
    "vrrp_instance", "interface", "virtual_router_id", "priority", "advert_int", "authentication", "auth_type",
    "auth_pass", "PASS", "AH", "virtual_ipaddress", "virtual_ipaddress_excluded", "nopreempt", "preempt",
    "unicast_peer", "version", "3", "state", "MASTER", "BACKUP", "dev", "include", "extra.conf", "self.conf",
    "{", "}", "\"", "#", "!", "0", "255", "256", "0.5", "-1", "1e9", "10.0.0.1/24", "2001:db8::1", "::/0",
    "1.2.3.4/33", "track_script", "notify_master", "vrrp_sync_group", "\"quoted word\"", "\\"};

// Replace, insert or delete whole words, or insert a line.
std::string mutate_words(const std::string& s, std::mt19937& rng) {
  std::vector<std::string> parts;  // words and the whitespace between them
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    const bool space = s[i] == ' ' || s[i] == '\n';
    while (j < s.size() && (s[j] == ' ' || s[j] == '\n') == space) ++j;
    parts.push_back(s.substr(i, j - i));
    i = j;
  }
  for (int k = 0, n = 1 + int(rng() % 3); k < n && !parts.empty(); ++k) {
    const size_t at = rng() % parts.size();
    const std::string w = kWords[rng() % std::size(kWords)];
    switch (rng() % 4) {
      case 0: parts[at] = w; break;
      case 1: parts.insert(parts.begin() + long(at), w + " "); break;
      case 2: parts.erase(parts.begin() + long(at)); break;
      default: parts.insert(parts.begin() + long(at), "\n" + w + " " + kWords[rng() % std::size(kWords)] + "\n");
    }
  }
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

void check_one(const std::string& text, const Includer& includer, size_t& ok, size_t& failed) {
  Result r;
  REQUIRE_NOTHROW(r = convert(text, "/etc/keepalived", includer));
  // Exactly one of: a carp section, or an error.
  REQUIRE(r.carp.has_value() != r.error.has_value());
  for (const auto& w : r.warnings) REQUIRE(!w.message.empty());
  if (r.error) {
    REQUIRE(!r.error->message.empty());
    ++failed;
    return;
  }
  ++ok;
  // Whatever is printed is JSON, and every number is in hafw's range.
  REQUIRE_NOTHROW(json::parse(r.carp->dump(-1, ' ', false, json::error_handler_t::replace)));
  const json& carp = (*r.carp)["carp"];
  REQUIRE(carp["preempt"].is_boolean());
  REQUIRE(!carp["vips"].empty());
  for (const auto& v : carp["vips"]) {
    REQUIRE(v["vhid"].get<int>() >= 1);
    REQUIRE(v["vhid"].get<int>() <= 255);
    REQUIRE(v["advbase"].get<int>() >= 1);
    REQUIRE(v["advbase"].get<int>() <= 255);
    REQUIRE(v["advskew"].get<int>() >= 0);
    REQUIRE(v["advskew"].get<int>() <= 254);
    REQUIRE(!v["interface"].get<std::string>().empty());
    if (v.contains("password")) {
      REQUIRE(!v["password"].get<std::string>().empty());
      REQUIRE(v["password"].get<std::string>().size() <= 19);
    }
  }
}

}  // namespace

TEST_CASE("keepalived fuzz: 20k mutated files never crash", "[keepalived][fuzz]") {
  std::mt19937 rng(20261201);  // fixed seed: a failure reproduces
  // Included files: one ordinary, one that includes itself, one that throws.
  std::string extra = "priority 200\nadvert_int 2\n";
  const Includer includer = [&extra](const std::string& pattern, const std::string&) -> std::vector<Source> {
    if (pattern == "extra.conf") return {{"/etc/keepalived/extra.conf", extra}};
    if (pattern == "self.conf") return {{"/etc/keepalived/self.conf", "include self.conf\n"}};
    if (pattern.find('*') != std::string::npos) return {};
    throw std::runtime_error("cannot read " + pattern + ": No such file or directory");
  };
  size_t ok = 0, failed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = i % 2 == 0 ? mutate_bytes(kBase, rng) : mutate_words(kBase, rng);
    if (rng() % 4 == 0) text = mutate_words(text, rng);
    if (rng() % 8 == 0) extra = mutate_words("priority 200\nadvert_int 2\n", rng);
    check_one(text, includer, ok, failed);
  }
  for (int i = 0; i < 1000; ++i) {
    std::string s(rng() % 300, '\0');
    for (auto& c : s) c = char(rng() % 256);
    check_one(s, includer, ok, failed);
  }
  // Deep nesting and long input do not exhaust the stack.
  check_one(std::string(100000, '{'), includer, ok, failed);
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += "a {\n";
  check_one(deep, includer, ok, failed);
  // Both outcomes are reached: the mutations test the conversion too.
  CHECK(ok > 1000);
  CHECK(failed > 1000);
}
