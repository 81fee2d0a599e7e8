// pfsync frames: what the writer packs and how it groups it, and what the
// parser refuses before it visits anything. Every frame handed to parse()
// sits in a buffer of exactly its size, so ASan sees any read past it.
#include <catch2/catch.hpp>

#include <cstring>

#include "tests/unit/pfsync/records.h"

using namespace hafw;
using namespace hafw::pfsync;
using namespace hafw::pfsync::test;

namespace {

Bytes frame_of(FrameWriter& w) {
  auto f = w.finish();
  return Bytes(f.begin(), f.end());
}

// INS, INS, UPD_C x3, DEL_C, BUS END, INS: four sections of INS, one each of the others.
Bytes mixed_frame() {
  std::array<uint8_t, 1480> buf{};
  FrameWriter w(buf);
  REQUIRE(w.add(Action::Ins, tcp_v4_nat()));
  REQUIRE(w.add(Action::Ins, udp_v6()));
  for (int i = 0; i < 3; ++i) REQUIRE(w.add(update()));
  REQUIRE(w.add(Action::DelC, id_record()));
  REQUIRE(w.add(bus(kBusEnd)));
  REQUIRE(w.add(Action::Ins, tcp_v4_nat()));
  return frame_of(w);
}
constexpr size_t kMixedLen = 20 + (4 + 2 * 264) + (4 + 3 * 84) + (4 + 12) + (4 + 12) + (4 + 264);
constexpr size_t kMixedRecords = 8;
// Where each section starts, and the end.
constexpr size_t kMixedSections[] = {20, 20 + 532, 20 + 532 + 256, 20 + 532 + 256 + 16, 20 + 532 + 256 + 32,
                                     kMixedLen};

ParseResult parse_copy(const Bytes& f, Recorder& r) {
  Bytes exact(f);  // a buffer of exactly the frame's size
  return parse(exact, r);
}

// A frame of one section, built by hand: header, subheader, body.
Bytes section_frame(uint8_t action, uint8_t len_words, uint16_t count, const Bytes& body) {
  Bytes f(20 + 4, 0);
  f[0] = 6;
  f[20] = action;
  f[21] = len_words;
  put_be16(&f[22], count);
  f.insert(f.end(), body.begin(), body.end());
  put_be16(&f[2], uint16_t(f.size()));
  return f;
}

Bytes id_bytes(const IdRecord& r) {
  Bytes b(kIdSize);
  encode(r, b.data());
  return b;
}

}  // namespace

TEST_CASE("writer: consecutive records of one action share a section", "[pfsync][frame]") {
  const Bytes f = mixed_frame();
  REQUIRE(f.size() == kMixedLen);
  CHECK(f[0] == 6);
  CHECK(f[1] == 0);
  CHECK(be16_at(&f[2]) == kMixedLen);
  // Each subheader: action, len in words, count.
  const uint8_t expect[][3] = {{13, 66, 2}, {4, 21, 3}, {7, 3, 1}, {10, 3, 1}, {13, 66, 1}};
  for (size_t i = 0; i < 5; ++i) {
    INFO("section " << i);
    const uint8_t* sh = &f[kMixedSections[i]];
    CHECK(sh[0] == expect[i][0]);
    CHECK(sh[1] == expect[i][1]);
    CHECK(be16_at(sh + 2) == expect[i][2]);
  }
  Recorder r;
  const ParseResult p = parse_copy(f, r);
  CHECK_FALSE(p.error);
  CHECK(p.records == kMixedRecords);
  CHECK(p.bad_records == 0);
  CHECK(p.skipped == 0);
  REQUIRE(r.seen.size() == kMixedRecords);
  CHECK(r.seen[0].action == Action::Ins);
  CHECK(r.seen[0].state == tcp_v4_nat());
  CHECK(r.seen[1].state == udp_v6());
  for (size_t i = 2; i < 5; ++i) {
    CHECK(r.seen[i].action == Action::UpdC);
    CHECK(r.seen[i].update == update());
  }
  CHECK(r.seen[5].action == Action::DelC);
  CHECK(r.seen[5].id == id_record());
  CHECK(r.seen[6].action == Action::Bus);
  CHECK(r.seen[6].bus == bus(kBusEnd));
  CHECK(r.seen[7].action == Action::Ins);
}

TEST_CASE("writer: every record kind, and the action decides the section", "[pfsync][frame]") {
  std::array<uint8_t, 1480> buf{};
  FrameWriter w(buf);
  REQUIRE(w.add(clr()));
  REQUIRE(w.add(Action::InsAck, id_record()));
  REQUIRE(w.add(Action::UpdReq, IdRecord{}));
  REQUIRE(w.add(Action::Upd, udp_v6()));
  REQUIRE(w.add(Action::Del, udp_v6()));
  REQUIRE(w.add(bus(kBusStart)));
  // An action that does not carry the record writes nothing.
  const size_t before = w.size();
  CHECK_FALSE(w.add(Action::UpdC, tcp_v4_nat()));
  CHECK_FALSE(w.add(Action::Bus, tcp_v4_nat()));
  CHECK_FALSE(w.add(Action::Ins, id_record()));
  CHECK_FALSE(w.add(Action::Eof, id_record()));
  CHECK_FALSE(w.fits(Action::Eof));
  CHECK(w.size() == before);
  CHECK(w.records() == 6);

  Recorder r;
  const ParseResult p = parse_copy(frame_of(w), r);
  CHECK_FALSE(p.error);
  REQUIRE(r.seen.size() == 6);
  CHECK(r.seen[0].action == Action::Clr);
  CHECK(r.seen[0].clr == clr());
  CHECK(r.seen[1].action == Action::InsAck);
  CHECK(r.seen[1].id == id_record());
  CHECK(r.seen[2].action == Action::UpdReq);
  CHECK(r.seen[2].id == IdRecord{});
  CHECK(r.seen[3].action == Action::Upd);
  CHECK(r.seen[3].state == udp_v6());
  CHECK(r.seen[4].action == Action::Del);
  CHECK(r.seen[5].action == Action::Bus);
  CHECK(r.seen[5].bus == bus(kBusStart));
}

TEST_CASE("writer: a 1500-byte MTU less the IP header holds 5 full states", "[pfsync][frame]") {
  std::array<uint8_t, 1500 - 20> buf{};
  FrameWriter w(buf);
  int n = 0;
  while (w.add(Action::Upd, tcp_v4_nat())) ++n;
  CHECK(n == 5);
  CHECK(w.records() == 5);
  CHECK(w.size() == 20 + 4 + 5 * 264);  // 1344
  CHECK_FALSE(w.fits(Action::Upd));
  // 136 bytes left: one UPD_C (a subheader and 84 bytes), then one DEL_C.
  CHECK(w.fits(Action::UpdC));
  CHECK(w.add(update()));
  CHECK_FALSE(w.add(update()));
  CHECK(w.size() == 1432);
  CHECK(w.add(Action::DelC, id_record()));
  CHECK(w.add(Action::DelC, id_record()));
  CHECK(w.add(Action::DelC, id_record()));
  CHECK(w.size() == 1432 + 4 + 36);  // 1472: 8 bytes left, less than a record
  CHECK_FALSE(w.fits(Action::DelC));
  CHECK_FALSE(w.add(bus(kBusEnd)));
  const auto f = w.finish();
  CHECK(f.size() == 1472);
  CHECK(f.size() <= buf.size());
  CHECK(be16_at(f.data() + 2) == 1472);
}

TEST_CASE("writer: records per frame of one action, plain and in the 28-byte envelope (docs/sync.md)",
          "[pfsync][frame]") {
  struct Row {
    Action action;
    size_t plain, enveloped;
  };
  const Row rows[] = {{Action::Upd, 5, 5}, {Action::UpdC, 17, 17}, {Action::DelC, 121, 119}};
  for (const Row& row : rows) {
    for (size_t budget : {size_t(1480), size_t(1452)}) {
      INFO(name(row.action) << " in " << budget);
      Bytes buf(budget);
      FrameWriter w(buf);
      size_t n = 0;
      for (;;) {
        const bool ok = row.action == Action::Upd    ? w.add(Action::Upd, udp_v6())
                        : row.action == Action::UpdC ? w.add(update())
                                                     : w.add(Action::DelC, id_record());
        if (!ok) break;
        ++n;
      }
      CHECK(n == (budget == 1480 ? row.plain : row.enveloped));
      CHECK(w.size() == 24 + n * record_size(row.action));
    }
  }
}

TEST_CASE("writer: finish, checksum, reset, and buffers too small or too large", "[pfsync][frame]") {
  std::array<uint8_t, 200> buf{};
  FrameWriter w(buf);
  CHECK(w.empty());
  CHECK(w.size() == 20);
  std::array<uint8_t, 16> sum;
  for (size_t i = 0; i < 16; ++i) sum[i] = uint8_t(0xc0 + i);
  w.set_checksum(sum);
  Bytes f = frame_of(w);
  REQUIRE(f.size() == 20);
  CHECK(be16_at(&f[2]) == 20);
  CHECK(std::memcmp(&f[4], sum.data(), 16) == 0);
  Recorder r;
  ParseResult p = parse_copy(f, r);
  CHECK_FALSE(p.error);
  CHECK(p.records == 0);
  CHECK(p.checksum == sum);

  // finish() and then more records: the next finish() covers them too.
  REQUIRE(w.add(Action::DelC, id_record()));
  CHECK(frame_of(w).size() == 36);
  REQUIRE(w.add(Action::DelC, id_record()));
  f = frame_of(w);
  CHECK(f.size() == 48);
  CHECK(be16_at(&f[22]) == 2);

  // reset: empty again, the checksum kept.
  w.reset();
  CHECK(w.empty());
  CHECK(w.records() == 0);
  f = frame_of(w);
  CHECK(f.size() == 20);
  CHECK(std::memcmp(&f[4], sum.data(), 16) == 0);
  // A section after reset starts afresh rather than joining the old one.
  REQUIRE(w.add(Action::DelC, id_record()));
  f = frame_of(w);
  CHECK(f.size() == 36);
  CHECK(be16_at(&f[22]) == 1);

  SECTION("a buffer shorter than the header holds no frame") {
    std::array<uint8_t, 19> tiny{};
    FrameWriter t(tiny);
    CHECK_FALSE(t.add(Action::DelC, id_record()));
    CHECK_FALSE(t.fits(Action::DelC));
    CHECK(t.finish().empty());
  }
  SECTION("a frame stops at 65535 bytes, the header's length field") {
    Bytes big(100000);
    FrameWriter b(big);
    size_t n = 0;
    while (b.add(Action::Ins, udp_v6())) ++n;
    CHECK(n == (65535 - 24) / 264);  // 248
    const auto bf = b.finish();
    CHECK(bf.size() == 24 + n * 264);
    Recorder br;
    CHECK(parse(bf, br).records == n);
  }
}

TEST_CASE("parse: unknown actions are skipped by their length", "[pfsync][frame]") {
  // DEL_C; action 9 (retired) with 2 messages of 5 words; EOF (12); TDB (15);
  // 201 (200 is hafw's config chunk) with 3 messages of 0 words; BUS.
  Bytes f(20, 0);
  f[0] = 6;
  auto section = [&](uint8_t action, uint8_t len, uint16_t count, const Bytes& body) {
    f.insert(f.end(), {action, len, uint8_t(count >> 8), uint8_t(count)});
    f.insert(f.end(), body.begin(), body.end());
  };
  Bytes bb(kBusSize);
  encode(bus(kBusStart), bb.data());
  section(7, 3, 1, id_bytes(id_record()));
  section(9, 5, 2, Bytes(40, 0xaa));
  section(12, 0, 0, {});
  section(15, 12, 1, Bytes(48, 0xbb));
  section(201, 0, 3, {});
  section(10, 3, 1, bb);
  put_be16(&f[2], uint16_t(f.size()));

  Recorder r;
  const ParseResult p = parse_copy(f, r);
  CHECK_FALSE(p.error);
  CHECK(p.records == 2);
  CHECK(p.skipped == 2 + 0 + 1 + 3);
  REQUIRE(r.seen.size() == 2);
  CHECK(r.seen[0].id == id_record());
  CHECK(r.seen[1].bus == bus(kBusStart));
}

TEST_CASE("parse: a known action's longer messages are read for their record and the rest skipped",
          "[pfsync][frame]") {
  // DEL_C messages of 5 words: a newer sender's 8 extra bytes each.
  Bytes body;
  for (int i = 0; i < 3; ++i) {
    IdRecord id = id_record();
    id.id += uint64_t(i);
    Bytes b = id_bytes(id);
    b.resize(20, 0x5e);
    body.insert(body.end(), b.begin(), b.end());
  }
  Recorder r;
  const ParseResult p = parse_copy(section_frame(7, 5, 3, body), r);
  CHECK_FALSE(p.error);
  REQUIRE(r.seen.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(r.seen[i].id.id == id_record().id + i);
}

TEST_CASE("parse: a frame cut at any length is refused and nothing is visited", "[pfsync][frame]") {
  const Bytes f = mixed_frame();
  for (size_t n = 0; n < f.size(); ++n) {
    INFO("cut to " << n);
    Recorder r;
    // As received: the header still says the full length.
    const Bytes cut(f.begin(), f.begin() + long(n));
    ParseResult p = parse(cut, r);
    REQUIRE(p.error);
    CHECK(*p.error == (n < 20 ? FrameError::Short : FrameError::BadLength));
    CHECK(r.seen.empty());
    CHECK(p.records + p.bad_records + p.skipped == 0);
    if (n < 20) continue;
    // With the length field made to match: only a cut at a section's end is a frame.
    Bytes fixed(cut);
    put_be16(&fixed[2], uint16_t(n));
    p = parse(fixed, r);
    const auto* end = std::find(std::begin(kMixedSections), std::end(kMixedSections), n);
    if (end == std::end(kMixedSections)) {
      REQUIRE(p.error);
      CHECK(*p.error == FrameError::BadSection);
      CHECK(r.seen.empty());
    } else {
      CHECK_FALSE(p.error);
      const size_t per_section[] = {0, 2, 5, 6, 7, 8};
      CHECK(r.seen.size() == per_section[end - std::begin(kMixedSections)]);
    }
  }
}

TEST_CASE("parse: refused frames by reason", "[pfsync][frame]") {
  Bytes f = mixed_frame();
  Recorder r;
  auto refused_as = [&](const Bytes& x) -> std::optional<FrameError> {
    r.seen.clear();
    const ParseResult p = parse_copy(x, r);
    if (p.error) {
      CHECK(r.seen.empty());
      CHECK(p.records + p.bad_records + p.skipped == 0);
    }
    return p.error;
  };
  SECTION("version other than 6") {
    for (uint8_t v : {0, 5, 7, 255}) {
      f[0] = v;
      CHECK(refused_as(f) == FrameError::BadVersion);
    }
  }
  SECTION("header length under 20 or over what arrived") {
    const uint16_t lens[] = {0, 1, 19, uint16_t(kMixedLen + 1), 0xffff};
    for (uint16_t len : lens) {
      put_be16(&f[2], len);
      CHECK(refused_as(f) == FrameError::BadLength);
    }
  }
  SECTION("bytes past the header's length are Ethernet padding, not frame") {
    f.insert(f.end(), {13, 66, 0, 1, 0xde, 0xad});
    CHECK_FALSE(refused_as(f));
    CHECK(r.seen.size() == kMixedRecords);
  }
  SECTION("a known action whose messages are shorter than its record") {
    f[kMixedSections[0] + 1] = 65;  // INS of 260 bytes
    CHECK(refused_as(f) == FrameError::BadSection);
    f = mixed_frame();
    f[kMixedSections[2] + 1] = 2;  // DEL_C of 8 bytes
    CHECK(refused_as(f) == FrameError::BadSection);
    CHECK(refused_as(section_frame(10, 0, 1, {})) == FrameError::BadSection);  // BUS of 0 bytes
    CHECK(refused_as(section_frame(0, 4, 0, {})) == FrameError::BadSection);   // CLR of 16, even with count 0
  }
  SECTION("a count whose messages run past the frame, even in the last section") {
    put_be16(&f[kMixedSections[4] + 2], 2);
    CHECK(refused_as(f) == FrameError::BadSection);
    f = mixed_frame();
    put_be16(&f[kMixedSections[1] + 2], 0xffff);
    CHECK(refused_as(f) == FrameError::BadSection);
    CHECK(refused_as(section_frame(9, 255, 0xffff, Bytes(1020, 0))) == FrameError::BadSection);
  }
  SECTION("a good first section does not get through ahead of a bad later one") {
    put_be16(&f[kMixedSections[3] + 2], 3);  // BUS claims 3 messages
    CHECK(refused_as(f) == FrameError::BadSection);
  }
  SECTION("1 to 3 bytes after the last section: a subheader cut short") {
    for (size_t extra = 1; extra <= 3; ++extra) {
      Bytes g = mixed_frame();
      g.insert(g.end(), extra, 0);
      put_be16(&g[2], uint16_t(g.size()));
      CHECK(refused_as(g) == FrameError::BadSection);
    }
  }
}

TEST_CASE("parse: a record with a bad value is counted and skipped, the others apply", "[pfsync][frame]") {
  std::array<uint8_t, 1480> buf{};
  FrameWriter w(buf);
  StateRecord bad_af = udp_v6(), bad_timeout = udp_v6();
  bad_af.id = 2;
  bad_timeout.id = 4;
  REQUIRE(w.add(Action::Ins, tcp_v4_nat()));
  REQUIRE(w.add(Action::Ins, bad_af));
  REQUIRE(w.add(Action::Ins, udp_v6()));
  REQUIRE(w.add(Action::Ins, bad_timeout));
  REQUIRE(w.add(bus(kBusEnd)));
  REQUIRE(w.add(bus(kBusEnd)));
  Bytes f = frame_of(w);
  f[24 + 264 + 250] = 28;          // the second state's af: FreeBSD's AF_INET6
  f[24 + 3 * 264 + 255] = 14;      // the fourth state's timeout class
  f[24 + 4 * 264 + 4 + 12 + 8] = 3; // the second BUS's status
  Recorder r;
  const ParseResult p = parse_copy(f, r);
  CHECK_FALSE(p.error);
  CHECK(p.records == 3);
  CHECK(p.bad_records == 3);
  REQUIRE(r.seen.size() == 3);
  CHECK(r.seen[0].state == tcp_v4_nat());
  CHECK(r.seen[1].state == udp_v6());
  CHECK(r.seen[2].bus == bus(kBusEnd));
}

TEST_CASE("frame error names are the counters' names", "[pfsync][frame]") {
  CHECK(std::string(name(FrameError::Short)) == "short");
  CHECK(std::string(name(FrameError::BadVersion)) == "bad_version");
  CHECK(std::string(name(FrameError::BadLength)) == "bad_length");
  CHECK(std::string(name(FrameError::BadSection)) == "bad_section");
  CHECK(std::string(name(FrameError::BadRecord)) == "bad_record");
  CHECK(std::string(name(FrameError::Count)) == "unknown");
}
