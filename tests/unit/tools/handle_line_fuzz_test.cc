// Deterministic fuzzing of the control protocol: whatever a client sends,
// handle_line answers with a well-formed reply and never throws.
#include <algorithm>
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

TEST_CASE("LineReader frames any byte stream in any chunking as the lines sent", "[control][socket][fuzz]") {
  std::mt19937 rng(0x51ce5u);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n ? n - 1 : 0)(rng); };
  ControlStats st;
  for (int round = 0; round < 2000; ++round) {
    // What a client sends: mutated requests, each with its '\n' (some with
    // '\r' before it, some empty), maybe an unfinished last one.
    std::vector<std::string> sent;
    std::string stream;
    for (size_t k = 0, n = 1 + pick(8); k < n; ++k) {
      std::string line = mutate(kSeeds[pick(kSeeds.size())], rng);
      line.erase(std::remove(line.begin(), line.end(), '\n'), line.end());
      if (pick(4) == 0) line += '\r';
      if (pick(10) == 0) line.clear();
      sent.push_back(line);
      stream += line + '\n';
    }
    const std::string tail = pick(3) == 0 ? mutate(kSeeds[0], rng) : std::string();
    const bool tail_ok = tail.find('\n') == std::string::npos;
    stream += tail;
    // Fed in random pieces, 1 byte to all of it at once.
    LineReader r;
    std::vector<std::string> got;
    for (size_t at = 0; at < stream.size();) {
      const size_t n = 1 + pick(std::min<size_t>(stream.size() - at, 64));
      r.append(std::string_view(stream).substr(at, n));
      at += n;
      while (auto l = r.next()) got.push_back(*l);
      REQUIRE_FALSE(r.too_long());
    }
    if (tail_ok) {
      REQUIRE(got == sent);
      REQUIRE(std::string(r.pending()) == tail);
      REQUIRE(r.partial() == !tail.empty());
    }
    // Every framed line goes through the protocol.
    for (const auto& l : got) check_reply(handle_line(l, handler, st));
  }
}

TEST_CASE("LineReader: a line of kMaxLine bytes fits, one byte more is too long", "[control][socket][fuzz]") {
  LineReader fits;
  fits.append(std::string(kMaxLine, 'x'));
  CHECK_FALSE(fits.too_long());
  CHECK_FALSE(fits.next());
  fits.append("\n{}");
  CHECK(fits.next()->size() == kMaxLine);
  CHECK(fits.pending() == "{}");

  LineReader over;
  over.append(std::string(kMaxLine + 1, 'x'));
  CHECK(over.too_long());
  // Its newline arriving later does not make it fit.
  over.append("\n");
  CHECK(over.too_long());
  CHECK_FALSE(over.next());
}
