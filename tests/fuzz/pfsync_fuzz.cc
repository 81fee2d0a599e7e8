// libFuzzer target for the state sync receive path: the pfsync frame parser
// and the sealed envelope (docs/testing.md, "Fuzzing"). Built and run by
// tests/fuzz/run.sh with clang's -fsanitize=fuzzer,address,undefined.
//
// Every input goes three ways:
//
//  (a) parse() as a pfsync frame. A refused frame must have visited nothing.
//      Every record handed on must survive encode and decode unchanged, and
//      the records of an accepted frame, written again with FrameWriter,
//      must parse back to the same records, in order, with the same
//      checksum, in no more bytes than the original (but a subheader for
//      each config chunk, which the writer gives a section of its own).
//  (b) SyncCrypto::open() on a keyed receiver (and on a keyless one). The
//      refusal must be the one docs/sync.md names for the envelope's first
//      bytes; a frame that authenticates must be exactly what the matching
//      sender seals for that sequence number (so no forgery passes), and its
//      plaintext goes through (a).
//      Config chunks also go through a ConfigAssembler, which must stay
//      within its limit and complete only what matches its digest.
//  (c) An input whose first byte is 0xC0..0xCF is a recipe instead: the
//      rest (from byte 2) is sealed by a sender and opened by the matching
//      receiver, so the fuzzer reaches the parser through the crypto path;
//      the low bits choose the address family and a variant that must fail
//      (one byte altered, the frame reflected to its sender, a replay, a
//      receiver with another key or another peer address).
//
// Any broken rule aborts, which libFuzzer reports as a crash. Nothing is
// allocated per input: the buffers are static, and the crypto objects are
// made once (a frame that authenticates in (b) makes two more, freed at once).
//
// With HAFW_FUZZ_WRITE_SEEDS=DIR in the environment the binary writes the
// seed corpus (tests/fuzz/corpus/pfsync/) into DIR and exits instead.
#include <sanitizer/asan_interface.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pfsync/config_sync.h"
#include "pfsync/crypto.h"
#include "pfsync/frame.h"
#include "pfsync/wire.h"
#include "tests/unit/pfsync/records.h"

using namespace hafw;
using namespace hafw::pfsync;

namespace {

// ------------------------------------------------------------ rules

[[noreturn]] void broken(const char* rule) {
  std::fprintf(stderr, "pfsync_fuzz: broken rule: %s\n", rule);
  std::abort();
}
void require(bool ok, const char* rule) {
  if (!ok) broken(rule);
}

// A frame in one of the static buffers is checked with everything past its
// end poisoned, so ASan catches a read beyond it as it does for libFuzzer's
// own exactly sized input.
class Exact {
 public:
  Exact(std::span<uint8_t> buf, size_t n) : tail_(buf.subspan(n)) {
    ASAN_POISON_MEMORY_REGION(tail_.data(), tail_.size());
  }
  ~Exact() { ASAN_UNPOISON_MEMORY_REGION(tail_.data(), tail_.size()); }
  Exact(const Exact&) = delete;
  Exact& operator=(const Exact&) = delete;

 private:
  std::span<uint8_t> tail_;
};

// The largest sealed frame, and a little room past it.
constexpr size_t kBuf = kMaxSyncPayload + 64;
alignas(64) uint8_t g_sealed[kBuf];
alignas(64) uint8_t g_opened[kBuf];
alignas(64) uint8_t g_rewritten[kBuf];

// FNV-1a over each record's action and encoding: two parses handed the same
// records in the same order end with the same digest.
struct Digest {
  uint64_t h = 1469598103934665603ull;
  void add(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
};

// The visitor of (a): each record through encode and decode again, into
// the digest, and (on the first pass) into a FrameWriter.
struct Checker : FrameVisitor {
  FrameWriter* writer = nullptr;  // null: the second pass, over the rewritten frame
  size_t calls = 0;
  Digest digest;

  template <class R, size_t N>
  void stable(Action a, const R& r) {
    ++calls;
    uint8_t b[N];
    encode(r, b);
    R again;
    require(decode(b, again), "decode accepts what encode wrote");
    require(again == r, "decode(encode(r)) == r");
    const uint8_t act = uint8_t(a);
    digest.add(&act, 1);
    digest.add(b, N);
  }
  void on_state(Action a, const StateRecord& r) override {
    require(a == Action::Ins || a == Action::Upd || a == Action::Del, "on_state gets INS, UPD or DEL");
    stable<StateRecord, kStateSize>(a, r);
    require(!writer || writer->add(a, r), "the rewritten frame has room for every state");
  }
  void on_update(const UpdateRecord& r) override {
    stable<UpdateRecord, kUpdCSize>(Action::UpdC, r);
    require(!writer || writer->add(r), "the rewritten frame has room for every UPD_C");
  }
  void on_id(Action a, const IdRecord& r) override {
    require(a == Action::InsAck || a == Action::UpdReq || a == Action::DelC, "on_id gets INS_ACK, UPD_REQ or DEL_C");
    stable<IdRecord, kIdSize>(a, r);
    require(!writer || writer->add(a, r), "the rewritten frame has room for every id");
  }
  void on_bus(const BusRecord& r) override {
    stable<BusRecord, kBusSize>(Action::Bus, r);
    require(!writer || writer->add(r), "the rewritten frame has room for every BUS");
  }
  void on_clr(const ClrRecord& r) override {
    stable<ClrRecord, kClrSize>(Action::Clr, r);
    require(!writer || writer->add(r), "the rewritten frame has room for every CLR");
  }
  // A config chunk's message is as long as its bytes: encoded into the
  // exact size and decoded again, its fields and bytes must be the same.
  void on_config(const ConfigChunkRecord& r) override {
    ++calls;
    ++chunks;
    const size_t n = r.data.size();
    require(n >= 1 && n <= kMaxChunkData && r.offset + n <= r.total && r.total <= kMaxConfigSize,
            "a config chunk handed on fits its message and its total");
    static uint8_t b[kMaxMessage];
    encode(r, b);
    ConfigChunkRecord again;
    require(decode(b, config_message_size(n), again), "decode accepts the config chunk encode wrote");
    require(again.generation == r.generation && again.total == r.total && again.offset == r.offset &&
                again.sha256 == r.sha256 && again.data.size() == n &&
                std::memcmp(again.data.data(), r.data.data(), n) == 0,
            "decode(encode(chunk)) == chunk");
    const uint8_t act = uint8_t(Action::HafwConfig);
    digest.add(&act, 1);
    digest.add(b, config_message_size(n));
    require(!writer || writer->add(r), "the rewritten frame has room for every config chunk");
    // Through the receiver's assembler (kept across inputs, a small limit):
    // it stays within its buffer, and what it completes has the digest its
    // chunks announced.
    if (!writer) return;
    static ConfigAssembler assembler(4096);
    static Time now{};
    now += std::chrono::milliseconds(1);
    const auto done = assembler.offer(r, now);
    require(assembler.bytes() <= 4096, "the assembler stays within its limit");
    if (done)
      require(sha256({reinterpret_cast<const uint8_t*>(done->text.data()), done->text.size()}) == r.sha256 &&
                  done->generation == r.generation,
              "a configuration handed on has the digest and generation its chunks announced");
  }
  size_t chunks = 0;
};

// (a): `frame` must end where its memory does (libFuzzer's input, or a
// static buffer under Exact).
void check_frame(std::span<const uint8_t> frame) {
  FrameWriter writer(std::span(g_rewritten, kMaxSyncPayload));
  Checker first;
  first.writer = &writer;
  const ParseResult p = parse(frame, first);
  if (p.error) {
    require(first.calls == 0, "a refused frame visited nothing");
    require(p.records == 0 && p.bad_records == 0 && p.skipped == 0, "a refused frame counts no records");
    require(p.checksum == std::array<uint8_t, 16>{}, "a refused frame hands on no checksum");
    return;
  }
  require(first.calls == p.records, "every record counted was visited");
  require(frame.size() >= kHeaderSize, "an accepted frame has a header");
  const size_t len = size_t(frame[2]) << 8 | frame[3];
  require(std::memcmp(p.checksum.data(), frame.data() + 4, 16) == 0, "the checksum is the header's");

  writer.set_checksum(p.checksum);
  const auto again = writer.finish();
  // The writer gives each config chunk a section of its own: a section of
  // several chunks comes back a subheader longer for each.
  require(again.size() <= len + kSubheaderSize * first.chunks, "the rewritten frame is no longer than the original");
  require(writer.records() == p.records, "the rewritten frame holds every record");
  const Exact exact(std::span(g_rewritten, kBuf), again.size());
  Checker second;
  const ParseResult q = parse(again, second);
  require(!q.error, "the parser accepts what the writer wrote");
  require(q.records == p.records && q.bad_records == 0 && q.skipped == 0, "the rewritten frame's records all decode");
  require(second.digest.h == first.digest.h, "the rewritten frame parses to the same records in the same order");
  require(q.checksum == p.checksum, "the rewritten frame keeps the checksum");
}

// ------------------------------------------------------------ crypto

constexpr std::string_view kKey = "hafw fuzz key";
constexpr std::string_view kOtherKey = "hafw fuzz key, another";
constexpr uint64_t kFirstSeq = 1;
// The sealed seeds' sequence number: any number authenticates once.
constexpr uint64_t kSeedSeq = 0x0001000200030004;

struct Pair {
  std::array<uint8_t, 16> a, b, c;  // sender, receiver, a third address
  size_t len;
};
const Pair kV4{{192, 0, 2, 1}, {192, 0, 2, 2}, {192, 0, 2, 3}, 4};
const Pair kV6{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
               {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
               {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3},
               16};
std::span<const uint8_t> A(const Pair& p) { return {p.a.data(), p.len}; }
std::span<const uint8_t> B(const Pair& p) { return {p.b.data(), p.len}; }
std::span<const uint8_t> C(const Pair& p) { return {p.c.data(), p.len}; }

// One family's objects for (c): the sender A -> B, its receiver, and
// receivers that must refuse A's frames.
struct Link {
  explicit Link(const Pair& p)
      : tx(kKey, A(p), B(p), kFirstSeq),
        rx(kKey, B(p), A(p), kFirstSeq),
        wrong_key(kOtherKey, B(p), A(p), kFirstSeq),
        wrong_peer(kKey, B(p), C(p), kFirstSeq) {}
  SyncCrypto tx, rx, wrong_key, wrong_peer;
};

struct Keys {
  // (b): B's receiver of A's frames, and a node without a key.
  SyncCrypto wire{kKey, B(kV4), A(kV4), kFirstSeq};
  SyncCrypto clear{"", B(kV4), A(kV4), kFirstSeq};
  Link link[2]{Link(kV4), Link(kV6)};
};

Keys& keys() {
  static Keys k;
  return k;
}

// (b) on a keyed receiver: the refusal docs/sync.md names, or a frame the
// matching sender sealed.
void check_open(std::span<const uint8_t> in) {
  const auto r = keys().wire.open(in, std::span(g_opened, kBuf));
  std::optional<OpenError> want;
  if (in.empty())
    want = OpenError::Short;
  else if (in[0] != kSealedMagic)
    want = OpenError::NotSealed;
  else if (in.size() < SyncCrypto::kOverhead)
    want = OpenError::Short;
  else if (in.size() > kMaxSyncPayload)
    want = OpenError::TooLong;
  else if (in[1] != kAlgAes256Gcm)
    want = OpenError::BadAlgorithm;
  if (want) {
    require(r.error == want, "the envelope is refused for the reason its first bytes give");
    return;
  }
  if (r.error == OpenError::BadTag) return;
  // Anything else authenticated: accepted, or refused by the replay window
  // for an earlier run of the same input. A receiver with a fresh window
  // must take it, and the sender must seal its plaintext to the same bytes.
  require(!r.error || r.error == OpenError::Replayed || r.error == OpenError::TooOld,
          "open() refuses a full envelope only for its tag or its number");
  const Pair& p = kV4;
  SyncCrypto fresh(kKey, B(p), A(p), kFirstSeq);
  const auto f = fresh.open(in, std::span(g_opened, kBuf));
  require(!f.error && f.len == in.size() - SyncCrypto::kOverhead, "an authentic frame opens on a fresh receiver");
  SyncCrypto sender(kKey, A(p), B(p), f.seq);
  const size_t n = sender.seal(std::span(g_opened, f.len), std::span(g_sealed, kBuf));
  require(n == in.size() && std::memcmp(g_sealed, in.data(), n) == 0,
          "whatever authenticates is what the matching sender seals");
  const Exact exact(std::span(g_opened, kBuf), f.len);
  check_frame(std::span(g_opened, f.len));
}

// (b) on a node without a key: sealed frames refused, the rest copied.
void check_clear(std::span<const uint8_t> in) {
  const auto r = keys().clear.open(in, std::span(g_opened, kBuf));
  if (in.empty()) {
    require(r.error == OpenError::Short, "keyless: an empty frame is short");
  } else if (in[0] == kSealedMagic) {
    require(r.error == OpenError::Sealed, "keyless: a sealed frame is refused");
  } else if (in.size() > kMaxSyncPayload) {
    require(r.error == OpenError::TooLong, "keyless: too long");
  } else {
    require(!r.error && r.len == in.size() && std::memcmp(g_opened, in.data(), in.size()) == 0,
            "keyless: cleartext passes unchanged");
  }
}

// (c): recipe byte 0xC0 | variant << 1 | family, a byte choosing what the
// tamper variant alters, then the frame.
constexpr uint8_t kRecipe = 0xC0;
enum Variant : uint8_t { Honest, Tamper, Reflect, Replay, WrongKey, WrongPeer, Count };

void check_sealed(std::span<const uint8_t> in) {
  if (in.size() < 2 || (in[0] & 0xF0) != kRecipe) return;
  Link& l = keys().link[in[0] & 1];
  const uint8_t variant = uint8_t((in[0] >> 1 & 7) % Count);
  const uint8_t pick = in[1];
  const auto plain = in.subspan(2);
  const uint64_t seq = l.tx.next_seq();
  const size_t n = l.tx.seal(plain, std::span(g_sealed, kBuf));
  if (plain.size() > kMaxSyncPayload - SyncCrypto::kOverhead) {
    require(n == 0, "seal refuses what cannot be an IP payload sealed");
    return;
  }
  require(n == plain.size() + SyncCrypto::kOverhead && l.tx.next_seq() == seq + 1, "seal takes one number");
  const auto sealed = std::span<const uint8_t>(g_sealed, n);
  const auto out = std::span(g_opened, kBuf);

  switch (variant) {
    case Tamper: {
      // One bit of one byte, anywhere in the envelope.
      const size_t at = size_t(pick) * n / 256;
      g_sealed[at] ^= uint8_t(1u << (pick % 8));
      const auto r = l.rx.open(sealed, out);
      const OpenError want = at == 0 ? OpenError::NotSealed : at == 1 ? OpenError::BadAlgorithm : OpenError::BadTag;
      require(r.error == want, "an altered envelope is refused");
      return;
    }
    case Reflect:
      require(l.tx.open(sealed, out).error == OpenError::BadTag, "a frame reflected to its sender fails");
      return;
    case WrongKey:
      require(l.wrong_key.open(sealed, out).error == OpenError::BadTag, "another key fails");
      return;
    case WrongPeer:
      require(l.wrong_peer.open(sealed, out).error == OpenError::BadTag, "another peer address fails");
      return;
    default:
      break;
  }
  const auto r = l.rx.open(sealed, out);
  require(!r.error && r.len == plain.size() && r.seq == seq, "the matching receiver opens the frame");
  require(plain.empty() || std::memcmp(g_opened, plain.data(), plain.size()) == 0, "the plaintext is the frame");
  {
    const Exact exact(out, r.len);
    check_frame(std::span(g_opened, r.len));
  }
  if (variant == Replay) require(l.rx.open(sealed, out).error == OpenError::Replayed, "a replay is refused");
}

// ------------------------------------------------------------ seeds

using test::Bytes;

struct Seed {
  std::string name;
  Bytes bytes;
};

// One frame of at most the plain 1500-byte-MTU budget.
template <class F>
Bytes frame_of(F&& fill) {
  std::array<uint8_t, 1480> buf{};
  FrameWriter w(buf);
  fill(w);
  const auto f = w.finish();
  return {f.begin(), f.end()};
}

StateRecord tcp_v6() {
  StateRecord r = test::udp_v6();
  r.id = 0x3000000000000077;
  r.proto = net::kProtoTcp;
  for (auto& k : r.key) k.proto = net::kProtoTcp;
  r.src = {.seqlo = 1000, .seqhi = 66535, .max_win = 65535, .state = 4, .wscale = 0x87};
  r.dst = {.seqlo = 5000, .seqhi = 70535, .max_win = 64240, .state = 4, .wscale = 0x80};
  r.timeout = uint8_t(net::Timeout::TcpEstablished);
  return r;
}

StateRecord icmp_v4() {
  StateRecord r;
  r.id = 0x4000000000000001;
  r.creatorid = 0x11223344;
  r.ifname = test::ifname("lan");
  r.key[0] = test::key("10.0.0.7", 0x1234, "192.0.2.9", 0x1234, net::kProtoIcmp);
  r.key[1] = r.key[0];
  r.src.state = 1;
  r.proto = net::kProtoIcmp;
  r.direction = kDirOut;
  r.timeout = uint8_t(net::Timeout::IcmpFirst);
  return r;
}

std::vector<Seed> seeds() {
  std::vector<Seed> s;
  const StateRecord states[] = {test::tcp_v4_nat(), test::udp_v6(), tcp_v6(), icmp_v4()};
  const char* state_names[] = {"tcp4-nat", "udp6", "tcp6", "icmp4"};
  for (Action a : {Action::Ins, Action::Upd, Action::Del})
    for (size_t i = 0; i < std::size(states); ++i)
      s.push_back({std::string(name(a)) + "-" + state_names[i], frame_of([&](FrameWriter& w) { w.add(a, states[i]); })});
  s.push_back({"upd_c", frame_of([](FrameWriter& w) { w.add(test::update()); })});
  s.push_back({"upd_c-full", frame_of([](FrameWriter& w) {
                 UpdateRecord u = test::update();
                 while (w.add(u)) ++u.id;
               })});
  for (Action a : {Action::InsAck, Action::UpdReq, Action::DelC})
    s.push_back({name(a), frame_of([&](FrameWriter& w) { w.add(a, test::id_record()); })});
  s.push_back({"upd_req-bulk", frame_of([](FrameWriter& w) { w.add(Action::UpdReq, IdRecord{}); })});
  s.push_back({"bus-start", frame_of([](FrameWriter& w) { w.add(test::bus(kBusStart)); })});
  s.push_back({"bus-end", frame_of([](FrameWriter& w) { w.add(test::bus(kBusEnd)); })});
  s.push_back({"clr", frame_of([](FrameWriter& w) { w.add(test::clr()); })});
  s.push_back({"clr-all", frame_of([](FrameWriter& w) { w.add(ClrRecord{.creatorid = 0x31323334}); })});
  // hafw's config sync: two chunks of one configuration, and a frame full.
  static const std::string config = std::string(R"({"node":{"name":"fw1","role":"primary"}})") + std::string(1500, ' ');
  auto chunk = [](uint32_t offset, size_t n) {
    return ConfigChunkRecord{.generation = 0x0102030405060708,
                             .total = uint32_t(config.size()),
                             .offset = offset,
                             .sha256 = {0xaa, 0xbb},
                             .data = {reinterpret_cast<const uint8_t*>(config.data()) + offset, n}};
  };
  s.push_back({"hafw_config", frame_of([&](FrameWriter& w) {
                 w.add(chunk(0, 40));
                 w.add(chunk(40, 3));
               })});
  s.push_back({"hafw_config-full", frame_of([&](FrameWriter& w) { w.add(chunk(0, w.config_room())); })});
  const Bytes empty = frame_of([](FrameWriter&) {});
  s.push_back({"empty", empty});
  const Bytes mixed = frame_of([](FrameWriter& w) {
    w.set_checksum({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
    w.add(test::clr());
    w.add(Action::Ins, test::tcp_v4_nat());
    w.add(Action::Ins, test::udp_v6());
    w.add(test::update());
    w.add(Action::DelC, test::id_record());
    w.add(Action::InsAck, test::id_record());
    w.add(Action::UpdReq, IdRecord{});
    w.add(test::bus(kBusStart));
  });
  s.push_back({"mixed", mixed});
  {
    // Unknown actions and messages longer than their record around known
    // ones, then two bytes of link padding past the header's length.
    Bytes f(20, 0);
    f[0] = kVersion;
    auto section = [&](uint8_t action, uint8_t words, uint16_t count, uint8_t fill) {
      f.insert(f.end(), {action, words, uint8_t(count >> 8), uint8_t(count)});
      f.insert(f.end(), size_t(words) * 4 * count, fill);
    };
    section(9, 2, 3, 0x11);
    section(uint8_t(Action::DelC), 4, 2, 0x00);
    section(uint8_t(Action::Eof), 0, 0, 0);
    section(15, 10, 1, 0x22);
    section(uint8_t(Action::Bus), 4, 1, 0x01);
    test::put_be16(&f[2], uint16_t(f.size()));
    f.insert(f.end(), {0, 0});
    s.push_back({"unknown-and-long", f});
  }
  // (b): frames B's receiver takes, sealed by the matching sender.
  for (const auto& [n, f] : {std::pair{"sealed-mixed", mixed}, std::pair{"sealed-empty", empty}}) {
    SyncCrypto tx(kKey, A(kV4), B(kV4), kSeedSeq);
    Bytes out(f.size() + SyncCrypto::kOverhead);
    out.resize(tx.seal(f, out));
    s.push_back({n, out});
  }
  // (c): each variant of the recipe, each family.
  const char* variants[] = {"honest", "tamper", "reflect", "replay", "wrong-key", "wrong-peer"};
  static_assert(std::size(variants) == Count);
  for (uint8_t v = 0; v < Count; ++v)
    for (uint8_t fam = 0; fam < 2; ++fam) {
      Bytes r = {uint8_t(kRecipe | v << 1 | fam), uint8_t(v * 37)};
      r.insert(r.end(), mixed.begin(), mixed.end());
      s.push_back({std::string("recipe-") + variants[v] + (fam ? "-v6" : "-v4"), r});
    }
  return s;
}

bool write_seeds(const char* dir) {
  for (const auto& seed : seeds()) {
    const std::string path = std::string(dir) + "/" + seed.name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(seed.bytes.data(), 1, seed.bytes.size(), f) != seed.bytes.size() || std::fclose(f) != 0) {
      std::perror(path.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("HAFW_FUZZ_WRITE_SEEDS")) std::exit(write_seeds(dir) ? 0 : 1);
  // Make the crypto objects, and let OpenSSL fill its caches, before the
  // first input: libFuzzer's leak check counts what one input allocates.
  require(keys().wire.ready() && keys().link[0].tx.ready() && keys().link[1].tx.ready(), "the keys derive");
  for (uint8_t v = 0; v < Count; ++v)
    for (uint8_t fam = 0; fam < 2; ++fam) {
      const uint8_t warm[2] = {uint8_t(kRecipe | v << 1 | fam), 0};
      check_sealed(warm);
    }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  check_frame(in);
  check_open(in);
  check_clear(in);
  check_sealed(in);
  return 0;
}
