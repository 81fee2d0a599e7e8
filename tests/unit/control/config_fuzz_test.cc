// Bad input never crashes the config reader: deterministic mutations of the
// example file (bytes and JSON structure), each must give either a config or
// at least one error, never both, never an exception.
#include <catch2/catch.hpp>

#include <random>

#include "tests/unit/control/config_fixture.h"
#include "tests/unit/control/mutate.h"

using namespace hafw::config;
using namespace hafw::config::test;

namespace {

// Keys and values from the schema make structural mutations reach the rules,
// not just the type checks.
const char* const kWords[] = {"node", "role", "interfaces", "carp", "vips", "vhid", "advskew", "advbase",
                              "password", "address", "peer", "sync", "nat", "outbound", "translation",
                              "source", "rules", "port", "any", "tcp", "wan", "lan", "dmz", "secondary"};
const char* const kAddrs[] = {"198.51.100.200", "198.51.100.201", "198.51.100.0/30", "192.168.1.1/25",
                              "10.0.1.255", "0.0.0.0/0", "2001:db8::1", "172.16.1.3", "::/0", "1.2.3.4/33"};

std::string mutate_bytes(std::string s, std::mt19937& rng) {
  if (rng() % 6 != 0) return hafw::test::mutate_bytes(std::move(s), rng);
  // Insert a schema key after a '{': structural damage the rules must catch.
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  size_t at = s.find('{', pick(s.size()));
  if (at == std::string::npos) at = s.find('{');
  std::string key = kWords[rng() % std::size(kWords)];
  if (rng() % 2) key += char('a' + rng() % 26);
  if (at != std::string::npos) s.insert(at + 1, "\"" + key + "\": " + std::to_string(rng() % 300) + ", ");
  return s;
}

json random_value(std::mt19937& rng) {
  switch (rng() % 8) {
    case 0: return nullptr;
    case 1: return bool(rng() % 2);
    case 2: return int(rng() % 600) - 100;
    case 3: return double(rng() % 1000) / 7.0;
    case 4: return kWords[rng() % std::size(kWords)];
    case 5: return kAddrs[rng() % std::size(kAddrs)];
    case 6: return json::array({kAddrs[rng() % std::size(kAddrs)]});
    default: return json::object({{kWords[rng() % std::size(kWords)], int(rng() % 256)}});
  }
}

// Replace, delete or add one node somewhere in the tree.
void mutate_tree(json& j, std::mt19937& rng) {
  json* at = &j;
  for (int depth = 0; depth < 6; ++depth) {
    if (!at->is_structured() || at->empty() || rng() % 4 == 0) break;
    auto it = at->begin();
    std::advance(it, rng() % at->size());
    json* next = &*it;
    if (!next->is_structured() || rng() % 3 == 0) {
      switch (rng() % 3) {
        case 0: *next = random_value(rng); return;
        case 1: at->erase(it); return;
        default:
          if (at->is_array()) at->push_back(*next);
          else (*at)[kWords[rng() % std::size(kWords)]] = random_value(rng);
          return;
      }
    }
    at = next;
  }
  *at = random_value(rng);
}

bool check_one(const std::string& text) {
  LoadResult r;
  REQUIRE_NOTHROW(r = parse(text));
  size_t errs = 0;
  for (const auto& d : r.diagnostics) {
    errs += d.is_error();
    REQUIRE(!d.path.empty());
    REQUIRE(!d.message.empty());
  }
  // Exactly one of: a config, or at least one error.
  REQUIRE(r.ok() == (errs == 0));
  return r.ok();
}

}  // namespace

TEST_CASE("config fuzz: 20k mutated files never crash", "[config][fuzz]") {
  std::mt19937 rng(20240611);  // fixed seed: a failure reproduces
  const std::string base = example_text("primary.json");
  const json tree = json::parse(base);
  size_t ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    if (i % 2 == 0) {
      text = mutate_bytes(base, rng);
      if (rng() % 4 == 0) text = mutate_bytes(text, rng);
    } else {
      json j = tree;
      for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k) mutate_tree(j, rng);
      text = j.dump();
    }
    ok += check_one(text);
  }
  // Random garbage too.
  for (int i = 0; i < 1000; ++i) {
    std::string s(rng() % 200, '\0');
    for (auto& c : s) c = char(rng() % 256);
    check_one(s);
  }
  // Deep nesting does not exhaust the stack.
  check_one(std::string(100000, '['));
  check_one(std::string(20000, '[') + std::string(20000, ']'));
  // Some mutations keep the file valid: the fuzzer reaches the rules.
  CHECK(ok > 0);
}
