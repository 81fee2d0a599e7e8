// Config sync's chunks (action 200): the record's layout, the writer's
// sections, the parser's refusals, and the assembler that puts a
// configuration together again one generation at a time and hands on only
// a whole one whose SHA-256 checks. The last case feeds the assembler
// 20,000 mutated chunk streams (lost, repeated, reordered, altered chunks,
// interleaved generations) and requires that it never hands on anything but
// a configuration that was sent, whole.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "pfsync/config_sync.h"
#include "tests/unit/pfsync/records.h"

using namespace hafw;
using namespace hafw::pfsync;
using namespace hafw::pfsync::test;
using namespace std::chrono_literals;

namespace {

// A configuration of `n` bytes, every position distinct enough that a chunk
// put in the wrong place shows.
std::string config_text(size_t n, char salt = 'a') {
  std::string s;
  s.reserve(n);
  for (size_t i = 0; s.size() < n; ++i) s += std::to_string(i * 7 + size_t(salt)) + ",";
  s.resize(n);
  return s;
}

// The frames a push of `text` takes, each within `budget` bytes (the sync
// port's MTU less the IP header and the envelope: 1452 for 1500).
std::vector<Bytes> push_frames(const std::string& text, uint64_t generation, size_t budget = 1452) {
  ConfigSender tx;
  REQUIRE(tx.set(text, generation));
  std::vector<Bytes> frames;
  std::vector<uint8_t> buf(budget);
  while (tx.pending()) {
    FrameWriter w(buf);
    while (tx.pending() && w.config_room() > 0) REQUIRE(w.add(tx.next(w.config_room())));
    auto f = w.finish();
    REQUIRE(f.size() <= budget);
    frames.emplace_back(f.begin(), f.end());
  }
  return frames;
}

// Every chunk of the frames, in order, copied out of them.
struct Chunk {
  ConfigChunkRecord r;
  Bytes data;
  ConfigChunkRecord rec() const {
    ConfigChunkRecord c = r;
    c.data = data;
    return c;
  }
};
std::vector<Chunk> chunks_of(const std::vector<Bytes>& frames) {
  std::vector<Chunk> out;
  for (const auto& f : frames) {
    Recorder rec;
    const Bytes exact(f);
    const ParseResult p = parse(exact, rec);
    REQUIRE_FALSE(p.error);
    REQUIRE(p.bad_records == 0);
    for (const auto& s : rec.seen) {
      REQUIRE(s.action == Action::HafwConfig);
      out.push_back({s.config, s.config_data});
    }
  }
  return out;
}

std::optional<std::string> feed(ConfigAssembler& a, const std::vector<Chunk>& chunks, Time now) {
  std::optional<std::string> done;
  for (const auto& c : chunks)
    if (auto r = a.offer(c.rec(), now)) done = std::string(r->text);
  return done;
}

}  // namespace

TEST_CASE("a config chunk's fixed part and bytes are at their offsets, network order, padded to a word",
          "[pfsync][config]") {
  const std::string text = "hello";
  ConfigChunkRecord r{.generation = 0x0102030405060708, .total = 0x00011223, .offset = 0x00000444,
                      .sha256 = {}, .data = {reinterpret_cast<const uint8_t*>(text.data()), text.size()}};
  for (size_t i = 0; i < 32; ++i) r.sha256[i] = uint8_t(0xa0 + i);
  REQUIRE(config_message_size(5) == 60);
  Bytes b(60, 0xff);
  encode(r, b.data());
  CHECK(be64_at(&b[0]) == 0x0102030405060708);
  CHECK(be32_at(&b[8]) == 0x00011223);
  CHECK(be32_at(&b[12]) == 0x444);
  CHECK(be16_at(&b[16]) == 5);
  CHECK(be16_at(&b[18]) == 0);
  CHECK(b[20] == 0xa0);
  CHECK(b[51] == 0xa0 + 31);
  CHECK(std::string(b.begin() + 52, b.begin() + 57) == "hello");
  CHECK(b[57] == 0);
  CHECK(b[59] == 0);

  ConfigChunkRecord d;
  REQUIRE(decode(b.data(), b.size(), d));
  CHECK(d.generation == r.generation);
  CHECK(d.total == r.total);
  CHECK(d.offset == r.offset);
  CHECK(d.sha256 == r.sha256);
  CHECK(std::string(d.data.begin(), d.data.end()) == "hello");

  SECTION("refused: bytes past the message, none, past the total, a total over 1 MiB, flags set") {
    ConfigChunkRecord x;
    CHECK_FALSE(decode(b.data(), 56, x));  // 5 bytes announced, 4 in the message
    CHECK_FALSE(decode(b.data(), 51, x));  // shorter than the fixed part
    Bytes c = b;
    test::put_be16(&c[16], 0);
    CHECK_FALSE(decode(c.data(), c.size(), x));
    c = b;
    c[8] = 0, c[9] = 0, c[10] = 0x04, c[11] = 0x48;  // total 1096: offset 1092 + 5 runs past it
    CHECK_FALSE(decode(c.data(), c.size(), x));
    c[11] = 0x49;  // 1097: fits exactly
    CHECK(decode(c.data(), c.size(), x));
    c = b;
    c[8] = 0, c[9] = 0x10, c[10] = 0, c[11] = 1;  // 1 MiB + 1
    CHECK_FALSE(decode(c.data(), c.size(), x));
    c = b;
    c[19] = 1;
    CHECK_FALSE(decode(c.data(), c.size(), x));
  }
}

TEST_CASE("config chunks: one section each, within the frame budget; the parser hands each on or counts it bad",
          "[pfsync][config]") {
  const std::string text = config_text(40000);
  const auto frames = push_frames(text, 7);
  // 1452 bytes: header 20, subheader 4, fixed part 52: 1376 bytes of
  // configuration per frame would need 1428 > 1020 per message; a chunk
  // carries at most 968, then a second one the rest of the frame.
  const auto chunks = chunks_of(frames);
  size_t bytes = 0;
  for (const auto& c : chunks) {
    CHECK(c.r.generation == 7);
    CHECK(c.r.total == text.size());
    CHECK(c.r.offset == bytes);
    CHECK(c.data.size() <= kMaxChunkData);
    CHECK(std::string(c.data.begin(), c.data.end()) == text.substr(bytes, c.data.size()));
    bytes += c.data.size();
  }
  CHECK(bytes == text.size());
  // Full frames: about 1,370 bytes of configuration in each.
  CHECK(frames.size() <= text.size() / 1300 + 1);
  for (size_t i = 0; i + 1 < frames.size(); ++i) CHECK(frames[i].size() > 1400);

  SECTION("a chunk with a bad length is counted, and the frame's other records still apply") {
    Bytes f = frames[0];
    // The first chunk's length, past its message.
    test::put_be16(&f[20 + 4 + 16], 2000);
    Recorder rec;
    const ParseResult p = parse(f, rec);
    REQUIRE_FALSE(p.error);
    CHECK(p.bad_records == 1);
    CHECK(p.records == rec.seen.size());
    CHECK(rec.seen.size() == 1);  // the second chunk of the frame
  }
  SECTION("a config section whose messages are shorter than the fixed part refuses the frame") {
    Bytes f = frames[0];
    f[21] = 12;  // 48 bytes per message
    Recorder rec;
    const Bytes exact(f);
    CHECK(parse(exact, rec).error == FrameError::BadSection);
    CHECK(rec.seen.empty());
  }
  SECTION("an empty chunk or one too big for the frame is not written") {
    std::array<uint8_t, 200> small{};
    FrameWriter w(small);
    CHECK(w.config_room() == 200 - 20 - 4 - 52);
    ConfigChunkRecord r{.generation = 1, .total = 1000, .offset = 0, .sha256 = {},
                        .data = {reinterpret_cast<const uint8_t*>(text.data()), 125}};
    CHECK_FALSE(w.add(r));
    r.data = r.data.first(0);
    CHECK_FALSE(w.add(r));
    r.data = {reinterpret_cast<const uint8_t*>(text.data()), 124};
    CHECK(w.add(r));
    CHECK(w.config_room() == 0);
    CHECK_FALSE(w.fits(Action::HafwConfig));
  }
}

TEST_CASE("the assembler hands on a configuration only when it is whole and its digest checks", "[pfsync][config]") {
  const std::string text = config_text(20000);
  const auto chunks = chunks_of(push_frames(text, 100));
  REQUIRE(chunks.size() > 10);
  ConfigAssembler a;
  const Time t0 = 1000s;

  SECTION("in order: complete on the last chunk, not before") {
    for (size_t i = 0; i + 1 < chunks.size(); ++i) REQUIRE_FALSE(a.offer(chunks[i].rec(), t0));
    CHECK(a.assembling());
    const auto done = a.offer(chunks.back().rec(), t0);
    REQUIRE(done);
    CHECK(done->generation == 100);
    CHECK(done->text == text);
    CHECK(a.completed() == 1);
    SECTION("the same push again (a re-push) is nothing to do") {
      CHECK_FALSE(feed(a, chunks, t0 + 10s));
      CHECK(a.repeated() == chunks.size());
      CHECK(a.completed() == 1);
    }
    SECTION("an older generation afterwards is stale") {
      const auto old = chunks_of(push_frames(config_text(3000, 'z'), 99));
      CHECK_FALSE(feed(a, old, t0));
      CHECK(a.dropped(ConfigDrop::Stale) == old.size());
    }
  }
  SECTION("a lost chunk: nothing handed on, every later chunk a gap; the next push completes") {
    auto lost = chunks;
    lost.erase(lost.begin() + 5);
    CHECK_FALSE(feed(a, lost, t0));
    CHECK(a.dropped(ConfigDrop::Gap) == lost.size() - 5);
    CHECK_FALSE(a.assembling());
    CHECK(a.bytes() == 0);
    const auto again = feed(a, chunks, t0 + 10s);
    REQUIRE(again);
    CHECK(*again == text);
  }
  SECTION("a lost first chunk: every chunk a gap") {
    auto lost = chunks;
    lost.erase(lost.begin());
    CHECK_FALSE(feed(a, lost, t0));
    CHECK(a.dropped(ConfigDrop::Gap) == lost.size());
  }
  SECTION("a chunk twice is a duplicate, and the configuration still completes") {
    auto twice = chunks;
    twice.insert(twice.begin() + 3, chunks[2]);
    const auto done = feed(a, twice, t0);
    REQUIRE(done);
    CHECK(*done == text);
    CHECK(a.dropped(ConfigDrop::Duplicate) == 1);
  }
  SECTION("a newer generation drops the incomplete one; an older one mid-way is stale") {
    const std::string newer = config_text(5000, 'n');
    const auto next = chunks_of(push_frames(newer, 101));
    for (size_t i = 0; i < 4; ++i) REQUIRE_FALSE(a.offer(chunks[i].rec(), t0));
    std::optional<std::string> done;
    for (size_t i = 0; i < next.size(); ++i) {
      if (auto r = a.offer(next[i].rec(), t0)) done = std::string(r->text);
      if (i == 1) CHECK_FALSE(a.offer(chunks[4].rec(), t0));  // the old push, delayed
    }
    REQUIRE(done);
    CHECK(*done == newer);
    CHECK(a.dropped(ConfigDrop::Superseded) == 1);
    CHECK(a.dropped(ConfigDrop::Stale) == 1);
  }
  SECTION("no chunk for 2 s drops the incomplete configuration") {
    for (size_t i = 0; i < 4; ++i) REQUIRE_FALSE(a.offer(chunks[i].rec(), t0));
    a.expire(t0 + 1999ms);
    CHECK(a.assembling());
    a.expire(t0 + 2s);
    CHECK_FALSE(a.assembling());
    CHECK(a.dropped(ConfigDrop::Timeout) == 1);
    CHECK_FALSE(a.offer(chunks[4].rec(), t0 + 2s));
    CHECK(a.dropped(ConfigDrop::Gap) == 1);
  }
  SECTION("altered bytes under the announced digest: bad_digest, nothing handed on") {
    auto bad = chunks;
    bad[3].data[10] ^= 1;
    CHECK_FALSE(feed(a, bad, t0));
    CHECK(a.dropped(ConfigDrop::BadDigest) == 1);
    CHECK(a.completed() == 0);
    REQUIRE(feed(a, chunks, t0));  // the same generation, sent right, completes
  }
  SECTION("a chunk whose total or digest differ from the first: the configuration is dropped") {
    auto bad = chunks;
    bad[3].r.sha256[0] ^= 1;
    CHECK_FALSE(feed(a, bad, t0));
    CHECK(a.dropped(ConfigDrop::Inconsistent) == 1);
    CHECK(a.dropped(ConfigDrop::Gap) == bad.size() - 4);
  }
  SECTION("a configuration over the assembler's limit is refused chunk by chunk") {
    ConfigAssembler small(10000);
    CHECK_FALSE(feed(small, chunks, t0));
    CHECK(small.dropped(ConfigDrop::TooBig) == chunks.size());
    CHECK(small.bytes() == 0);
  }
}

TEST_CASE("the sender refuses an empty configuration or one over 1 MiB, and keeps the last one", "[pfsync][config]") {
  ConfigSender tx;
  CHECK_FALSE(tx.set("", 1));
  CHECK_FALSE(tx.has_config());
  REQUIRE(tx.set("{}", 2));
  CHECK_FALSE(tx.set(std::string(kMaxConfigSize + 1, ' '), 3));
  CHECK(tx.generation() == 2);
  CHECK(tx.pending());
  const auto r = tx.next(100);
  CHECK(r.data.size() == 2);
  CHECK_FALSE(tx.pending());
  tx.repush();
  CHECK(tx.pending());
  // The largest configuration goes whole.
  const std::string big = config_text(kMaxConfigSize);
  const auto frames = push_frames(big, 9);
  ConfigAssembler a;
  const auto done = feed(a, chunks_of(frames), 1s);
  REQUIRE(done);
  CHECK(*done == big);
}

TEST_CASE("20,000 mutated chunk streams: the assembler hands on only a configuration that was sent, whole",
          "[pfsync][config][fuzz]") {
  std::mt19937 rng(20261201);
  auto pick = [&](size_t n) { return size_t(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
  // Three configurations of three generations, pushed in small frames so
  // each has a few dozen chunks.
  const std::string texts[] = {config_text(9000, 'a'), config_text(12000, 'b'), config_text(700, 'c')};
  std::vector<Chunk> pushes[3];
  for (size_t g = 0; g < 3; ++g) pushes[g] = chunks_of(push_frames(texts[g], 10 + g, 400));

  size_t completed = 0, streams_complete = 0;
  for (int it = 0; it < 20000; ++it) {
    ConfigAssembler a(16384);
    Time now = 100s;
    // A stream: one push, sometimes interleaved with another's chunks.
    std::vector<Chunk> s = pushes[pick(3)];
    if (pick(4) == 0) {
      const auto& other = pushes[pick(3)];
      const size_t at = pick(s.size() + 1);
      s.insert(s.begin() + long(at), other.begin(), other.begin() + long(pick(other.size()) + 1));
    }
    const size_t edits = pick(4);
    for (size_t k = 0; k < edits && !s.empty(); ++k) {
      const size_t i = pick(s.size());
      switch (pick(7)) {
        case 0: s.erase(s.begin() + long(i)); break;                              // lost
        case 1: s.insert(s.begin() + long(pick(s.size())), s[i]); break;          // repeated
        case 2: std::swap(s[i], s[pick(s.size())]); break;                        // reordered
        case 3: s[i].data[pick(s[i].data.size())] ^= uint8_t(1u << pick(8)); break;  // altered byte
        case 4: s[i].r.sha256[pick(32)] ^= 1; break;                              // altered digest
        case 5: s[i].r.generation += pick(3); break;                              // another generation
        case 6: s[i].r.total = uint32_t(s[i].r.offset + s[i].data.size() + pick(20000)); break;
      }
    }
    std::vector<std::string> out;
    for (const auto& c : s) {
      if (pick(50) == 0) now += 3s;  // a pause past the timeout
      if (auto r = a.offer(c.rec(), now)) out.emplace_back(r->text);
      REQUIRE(a.bytes() <= 16384);
    }
    for (const auto& t : out) {
      const bool sent = t == texts[0] || t == texts[1] || t == texts[2];
      REQUIRE(sent);
      ++completed;
    }
    // An untouched stream of one push always completes.
    if (edits == 0 && s.size() == pushes[0].size() && out.size() == 1) ++streams_complete;
    // Every chunk was taken, a repeat, or dropped and counted by reason.
    const uint64_t chunk_drops = a.dropped(ConfigDrop::Stale) + a.dropped(ConfigDrop::Inconsistent) +
                                 a.dropped(ConfigDrop::TooBig) + a.dropped(ConfigDrop::Gap) +
                                 a.dropped(ConfigDrop::Duplicate);
    REQUIRE(a.taken() + a.repeated() + chunk_drops == s.size());
    REQUIRE(a.completed() == out.size());
  }
  CHECK(completed > 4000);  // 4,675 with this seed
  CHECK(streams_complete > 100);
}
