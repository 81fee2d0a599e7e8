// Deterministic fuzzing of the pfsync frame parser: 200k frames made from
// valid ones by bit flips, cuts, length field edits, random subheaders and
// junk, each in a buffer of exactly its size so that ASan catches any read
// past it. Besides not crashing, every verdict is checked against a
// reference walk written here from the rules of docs/sync.md: a frame is
// refused exactly when the reference refuses it, a refused frame visited
// nothing, and an accepted one accounts for every message of every
// section. Every record handed on must survive encode and decode unchanged
// (what decode accepts, the codec can send).
#include <catch2/catch.hpp>

#include <random>

#include "tests/unit/pfsync/records.h"

using namespace hafw;
using namespace hafw::pfsync;
using namespace hafw::pfsync::test;

namespace {

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  auto take = [&](FrameWriter& w) {
    auto f = w.finish();
    out.emplace_back(f.begin(), f.end());
  };
  std::array<uint8_t, 1480> buf{};
  {
    FrameWriter w(buf);
    w.add(clr());
    w.add(Action::Ins, tcp_v4_nat());
    w.add(Action::Ins, udp_v6());
    w.add(update());
    w.add(update());
    w.add(Action::DelC, id_record());
    w.add(Action::InsAck, id_record());
    w.add(Action::UpdReq, IdRecord{});
    w.add(bus(kBusStart));
    take(w);
  }
  {
    FrameWriter w(buf);
    while (w.add(Action::Upd, udp_v6())) {
    }
    take(w);
  }
  {
    FrameWriter w(buf);
    for (int i = 0; i < 12; ++i) w.add(Action::DelC, IdRecord{.id = uint64_t(i), .creatorid = 1});
    w.add(Action::Del, tcp_v4_nat());
    w.add(bus(kBusEnd));
    take(w);
  }
  {
    FrameWriter w(buf);  // header only
    take(w);
  }
  // Unknown actions and longer-than-record messages around known ones.
  Bytes f(20, 0);
  f[0] = 6;
  auto section = [&](uint8_t action, uint8_t len, uint16_t count, uint8_t fill) {
    f.insert(f.end(), {action, len, uint8_t(count >> 8), uint8_t(count)});
    f.insert(f.end(), size_t(len) * 4 * count, fill);
  };
  section(9, 2, 3, 0x11);
  section(7, 4, 2, 0x00);
  section(12, 0, 0, 0);
  section(15, 10, 1, 0x22);
  put_be16(&f[2], uint16_t(f.size()));
  out.push_back(f);
  return out;
}

// What parse() must conclude, walked here byte by byte.
struct Expected {
  bool refused = false;
  size_t known = 0;    // messages of known actions (records + bad_records)
  size_t unknown = 0;  // messages skipped
};

Expected reference(const Bytes& f) {
  Expected e;
  if (f.size() < 20 || f[0] != 6) return {.refused = true};
  const size_t len = be16_at(&f[2]);
  if (len < 20 || len > f.size()) return {.refused = true};
  size_t off = 20;
  while (off != len) {
    if (off + 4 > len) return {.refused = true};
    const uint8_t action = f[off];
    const size_t mlen = size_t(f[off + 1]) * 4, count = be16_at(&f[off + 2]);
    off += 4;
    size_t want = 0;
    switch (action) {
      case 0: want = 20; break;
      case 2: case 5: case 7: case 10: want = 12; break;
      case 4: want = 84; break;
      case 6: case 13: case 14: want = 264; break;
      case 200: want = 52; break;  // hafw's config chunk: the fixed part
      default: break;
    }
    if (mlen < want) return {.refused = true};
    if (off + mlen * count > len) return {.refused = true};
    (want ? e.known : e.unknown) += count;
    off += mlen * count;
  }
  return e;
}

// Counts calls, and checks each record is one the codec can send again.
struct Checker : FrameVisitor {
  size_t calls = 0;
  template <class R, size_t N>
  void stable(const R& r) {
    ++calls;
    uint8_t b[N];
    encode(r, b);
    R again;
    REQUIRE(decode(b, again));
    REQUIRE(again == r);
  }
  void on_state(Action, const StateRecord& r) override { stable<StateRecord, kStateSize>(r); }
  void on_update(const UpdateRecord& r) override { stable<UpdateRecord, kUpdCSize>(r); }
  void on_id(Action, const IdRecord& r) override { stable<IdRecord, kIdSize>(r); }
  void on_bus(const BusRecord& r) override { stable<BusRecord, kBusSize>(r); }
  void on_clr(const ClrRecord& r) override { stable<ClrRecord, kClrSize>(r); }
  void on_config(const ConfigChunkRecord& r) override {
    ++calls;
    REQUIRE(r.data.size() >= 1);
    REQUIRE(r.offset + r.data.size() <= r.total);
    REQUIRE(r.total <= kMaxConfigSize);
  }
};

}  // namespace

TEST_CASE("pfsync parse survives 200k mutated frames and refuses exactly the malformed ones",
          "[pfsync][frame][fuzz]") {
  const auto base = seeds();
  std::mt19937 rng(20240917);
  auto pick = [&](size_t n) { return size_t(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
  const uint8_t actions[] = {0, 2, 4, 5, 6, 7, 10, 12, 13, 14, 1, 9, 15, 200, 255};

  size_t refused = 0, accepted = 0, records = 0, bad = 0;
  for (int it = 0; it < 200000; ++it) {
    Bytes f = base[pick(base.size())];
    const size_t edits = 1 + pick(4);
    for (size_t k = 0; k < edits; ++k) {
      switch (pick(8)) {
        case 0:
        case 1: {  // bit flips, mostly where lengths and actions live
          const size_t at = pick(3) ? pick(std::min<size_t>(f.size(), 28)) : pick(std::max<size_t>(f.size(), 1));
          if (at < f.size()) f[at] ^= uint8_t(1u << pick(8));
          break;
        }
        case 2:  // a cut
          f.resize(pick(f.size() + 1));
          break;
        case 3:  // the header's length: anything, or near the truth
          if (f.size() >= 4) put_be16(&f[2], uint16_t(pick(3) ? f.size() + pick(9) - 4 : pick(65536)));
          break;
        case 4: {  // a random subheader (and some bytes) somewhere past the header
          const size_t at = f.size() <= 20 ? f.size() : 20 + pick(f.size() - 19);
          Bytes sh = {actions[pick(std::size(actions))], uint8_t(pick(4) ? pick(70) : pick(256)),
                      uint8_t(pick(4) ? 0 : pick(256)), uint8_t(pick(6))};
          sh.resize(4 + pick(40), uint8_t(pick(256)));
          f.insert(f.begin() + long(at), sh.begin(), sh.end());
          break;
        }
        case 5:  // one subheader field of the first section
          if (f.size() >= 24) f[20 + pick(4)] = uint8_t(pick(256));
          break;
        case 6:  // junk at the end (padding, or garbage the length covers)
          f.resize(f.size() + pick(64), uint8_t(pick(256)));
          break;
        case 7:  // a byte anywhere in a record
          if (!f.empty()) f[pick(f.size())] = uint8_t(pick(256));
          break;
      }
    }
    // Half the time, make the header's length tell the truth, so the
    // mutation reaches the sections rather than stopping at BadLength.
    if (f.size() >= 4 && pick(2)) put_be16(&f[2], uint16_t(f.size()));

    const Bytes exact(f);
    Checker c;
    const ParseResult p = parse(exact, c);
    const Expected e = reference(exact);
    REQUIRE(p.error.has_value() == e.refused);
    if (p.error) {
      ++refused;
      REQUIRE(c.calls == 0);
      REQUIRE(p.records + p.bad_records + p.skipped == 0);
    } else {
      ++accepted;
      REQUIRE(c.calls == p.records);
      REQUIRE(p.records + p.bad_records == e.known);
      REQUIRE(p.skipped == e.unknown);
      records += p.records;
      bad += p.bad_records;
    }
  }
  // The mix reached every outcome in numbers.
  CHECK(refused > 20000);
  CHECK(accepted > 20000);
  CHECK(records > 100000);
  CHECK(bad > 1000);
}
