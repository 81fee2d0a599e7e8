// Deterministic fuzzing of the control protocol: whatever a client sends,
// handle_line answers with a well-formed reply and never throws.
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "control/socket.h"

using namespace hafw::control;
using nlohmann::json;

namespace {

const std::vector<std::string> kSeeds = {
    R"({"cmd":"status"})",
    R"({"cmd":"carp.maintenance","args":{"enter":true}})",
    R"({"cmd":"states.list","args":{"limit":100}})",
    R"({"cmd":"config.reload","args":{"path":"/etc/hafw/fw1.json"}})",
    R"({"cmd":"echo","args":{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00","d":-1.5e300}})",
    R"({"args":{},"cmd":"events"})",
};

// Handler that exercises every outcome, including ones that read args carelessly.
json handler(std::string_view cmd, const json& args) {
  if (cmd == "status") return json{{"ok", 1}};
  if (cmd == "carp.maintenance") return json{{"maintenance", args.at("enter").get<bool>()}};
  if (cmd == "states.list") return json{{"n", args.value("limit", 0u)}};
  if (cmd == "config.reload") {
    if (args.at("path").get<std::string>().empty()) throw CommandError("empty path");
    return nullptr;
  }
  if (cmd == "echo") return args;
  if (cmd == "events") throw std::out_of_range("event ring");
  throw CommandError("unknown command '" + std::string(cmd) + "'");
}

std::string mutate(std::string s, std::mt19937& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n ? n - 1 : 0)(rng); };
  static const char kInteresting[] = "{}[]\":,\\ \x00\xff\xc3\n0-e.tfn";
  int edits = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < edits; ++i) {
    switch (pick(6)) {
      case 0:
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
        break;
      case 1:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pick(s.size() + 1)),
                 kInteresting[pick(sizeof(kInteresting) - 1)]);
        break;
      case 2:
        if (!s.empty()) s.erase(pick(s.size()), 1 + pick(8));
        break;
      case 3:
        s.resize(pick(s.size() + 1));
        break;
      case 4: {  // duplicate a chunk: nesting, repeated keys
        size_t a = pick(s.size() + 1), n = pick(16);
        s.insert(a, s.substr(a, n));
        break;
      }
      default:
        if (!s.empty()) s[pick(s.size())] = kInteresting[pick(sizeof(kInteresting) - 1)];
        break;
    }
  }
  return s;
}

void check_reply(const json& r) {
  REQUIRE(r.is_object());
  REQUIRE(r.at("ok").is_boolean());
  if (r["ok"].get<bool>()) {
    REQUIRE(r.size() == 2);
    REQUIRE(r.contains("result"));
  } else {
    REQUIRE(r.size() == 2);
    REQUIRE(r.at("error").is_string());
    REQUIRE_FALSE(r["error"].get<std::string>().empty());
  }
  std::string line = reply_line(r);
  REQUIRE(line.find('\n') == line.size() - 1);
}

}  // namespace

TEST_CASE("handle_line survives mutated and random lines", "[control][socket][fuzz]") {
  std::mt19937 rng(0x4af3c7u);
  ControlStats st;
  constexpr int kIterations = 20000;
  int ok = 0;  // answered ok:true
  for (int i = 0; i < kIterations; ++i) {
    std::string line;
    if (i % 5 == 4) {
      line.resize(std::uniform_int_distribution<size_t>(0, 200)(rng));
      for (auto& c : line) c = static_cast<char>(rng());
    } else {
      line = mutate(kSeeds[static_cast<size_t>(i) % kSeeds.size()], rng);
    }
    json r = handle_line(line, handler, st);
    check_reply(r);
    ok += r["ok"].get<bool>();
  }
  // Every request is answered and every error is counted under one reason.
  CHECK(st.requests == kIterations);
  CHECK(st.errors == static_cast<uint64_t>(kIterations - ok));
  CHECK(st.errors == st.bad_json + st.bad_request + st.command_errors + st.internal_errors);
  // The mutations reach every layer, not just the JSON parser.
  CHECK(ok > 0);
  CHECK(st.bad_request > 0);
  CHECK(st.command_errors > 0);
}

TEST_CASE("handle_line survives pathological nesting and sizes", "[control][socket][fuzz]") {
  ControlStats st;
  // kMaxLine worth of open brackets: the parser must not recurse per level.
  check_reply(handle_line(std::string(kMaxLine, '['), handler, st));
  std::string deep = R"({"cmd":"echo","args":{"x":)" + std::string(50000, '[') + std::string(50000, ']') + "}}";
  json r = handle_line(deep, handler, st);
  check_reply(r);
  CHECK(r["error"] == "request nested deeper than 32 levels");
  // The deepest accepted nesting still round-trips.
  std::string ok = R"({"cmd":"echo","args":{"x":)" + std::string(30, '[') + std::string(30, ']') + "}}";
  CHECK(handle_line(ok, handler, st)["ok"] == true);
  check_reply(handle_line(std::string(kMaxLine, '"'), handler, st));
  check_reply(handle_line(std::string("{\"cmd\":\"\xff\xfe\"}"), handler, st));
  CHECK(st.requests == 5);
}
