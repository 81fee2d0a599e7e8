// The sealed sync envelope: known answers computed outside hafw, round trips,
// every refusal and the replay window's rules.
#include <catch2/catch.hpp>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pfsync/crypto.h"

using namespace hafw;
using namespace hafw::pfsync;
using Bytes = std::vector<uint8_t>;

namespace {

// Every OpenSSL allocation of this binary goes through these, so a test can
// see that sealing and opening allocate nothing. They must be installed
// before OpenSSL's first allocation: at static initialisation, before main.
std::atomic<long> openssl_allocations{0};
void* counted_malloc(size_t n, const char*, int) {
  ++openssl_allocations;
  return std::malloc(n);
}
void* counted_realloc(void* p, size_t n, const char*, int) {
  ++openssl_allocations;
  return std::realloc(p, n);
}
void counted_free(void* p, const char*, int) { std::free(p); }
const bool counting_allocations = CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free) == 1;

constexpr std::string_view kKey = "correct horse battery staple";
constexpr std::array<uint8_t, 4> kA{10, 0, 9, 1};
constexpr std::array<uint8_t, 4> kB{10, 0, 9, 2};

// A plausible pfsync frame: version 6, pad, length, then filler.
Bytes frame_of(size_t n, uint8_t fill = 0) {
  Bytes f(n);
  for (size_t i = 0; i < n; ++i) f[i] = uint8_t(fill + i);
  if (n >= 4) {
    f[0] = 6;
    f[1] = 0;
    f[2] = uint8_t(n >> 8);
    f[3] = uint8_t(n);
  }
  return f;
}

Bytes seal(SyncCrypto& c, const Bytes& plain) {
  Bytes out(plain.size() + c.overhead());
  const size_t n = c.seal(plain, out);
  REQUIRE(n == out.size());
  return out;
}

struct Result {
  std::optional<OpenError> error;
  Bytes plain;
  uint64_t seq = 0;
};

Result open(SyncCrypto& c, const Bytes& in) {
  Bytes out(in.size());
  const auto r = c.open(in, out);
  if (r.error) return {r.error, {}, r.seq};
  REQUIRE(r.len <= out.size());
  out.resize(r.len);
  return {std::nullopt, out, r.seq};
}

Bytes hex(const DirectionKey& k) {
  Bytes b(k.aes.begin(), k.aes.end());
  b.insert(b.end(), k.salt.begin(), k.salt.end());
  return b;
}

}  // namespace

TEST_CASE("HKDF known answers: the derivation of each direction's key and salt", "[pfsync][crypto]") {
  // Expected bytes from the OpenSSL command line, not from this code:
  //   openssl kdf -keylen 36 -kdfopt digest:SHA256 -kdfopt 'key:correct horse battery staple'
  //     -kdfopt 'salt:hafw sync v1' -kdfopt hexinfo:686166772073796e6320<sender><receiver> HKDF
  // (686166772073796e6320 is "hafw sync "), and again with Python's
  // cryptography HKDF.
  DirectionKey ab, ba, v6;
  REQUIRE(derive_direction_key(kKey, kA, kB, ab));
  CHECK(hex(ab) == Bytes{0xa5, 0xd3, 0x99, 0x8f, 0xb5, 0x49, 0x4d, 0xaa, 0x98, 0x20, 0x48, 0x97,
                         0x7e, 0xde, 0x06, 0x54, 0xf4, 0xb4, 0xfc, 0x5a, 0x04, 0xe5, 0x45, 0x5d,
                         0x35, 0x55, 0x25, 0xe3, 0xae, 0xe6, 0x89, 0x91, 0xdb, 0x23, 0x58, 0xbb});
  REQUIRE(derive_direction_key(kKey, kB, kA, ba));
  CHECK(hex(ba) == Bytes{0xfc, 0xb5, 0xbd, 0xc1, 0x67, 0xa6, 0xcc, 0x3d, 0x8d, 0xc6, 0xa6, 0xd3,
                         0x2f, 0x07, 0x5a, 0xc0, 0x23, 0xf6, 0x99, 0x5b, 0x72, 0xfc, 0x26, 0x80,
                         0xee, 0xb5, 0xe3, 0x7d, 0x08, 0xb4, 0x95, 0x3d, 0x98, 0x85, 0xf5, 0xac});
  // fd00::1 -> fd00::2
  const std::array<uint8_t, 16> a6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::array<uint8_t, 16> b6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  REQUIRE(derive_direction_key(kKey, a6, b6, v6));
  CHECK(hex(v6) == Bytes{0x58, 0x3f, 0x71, 0x38, 0x61, 0xb3, 0x64, 0xb8, 0x9c, 0x1f, 0x97, 0x56,
                         0x73, 0x85, 0x33, 0x9e, 0x94, 0xe4, 0xd3, 0xaf, 0xd5, 0xa3, 0x80, 0xbd,
                         0x6d, 0xc2, 0x5d, 0xf5, 0x7c, 0x75, 0x87, 0xfe, 0x6b, 0x77, 0x7a, 0xe1});

  DirectionKey bad;
  CHECK_FALSE(derive_direction_key("", kA, kB, bad));
  CHECK_FALSE(derive_direction_key(kKey, kA, b6, bad));                         // mixed families
  CHECK_FALSE(derive_direction_key(kKey, std::span(kA).first(3), std::span(kB).first(3), bad));
}

TEST_CASE("AES-GCM known answer: a fixed key and sequence number give fixed bytes", "[pfsync][crypto]") {
  // Sealed with Python's cryptography AESGCM under the A->B key above:
  // nonce = salt || seq, AAD = the 12-byte header.
  const Bytes expected{
      0xe6, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // header, seq 0x0102030405060708
      0x5e, 0x37, 0x93, 0x3b, 0xdf, 0x5d, 0xc3, 0xc9, 0x27, 0xc4, 0x62, 0xc7, 0x1b, 0x63, 0xe8, 0xde,
      0xa9, 0x83, 0x47, 0x8d, 0x6e, 0xf1, 0x34, 0x72, 0x52, 0xbd, 0x1b, 0xd9, 0x51, 0x81, 0x35, 0x56,  // ciphertext
      0xf5, 0xd0, 0xcd, 0xd8, 0xa2, 0x58, 0x4c, 0x53, 0x9a, 0xf2, 0x6f, 0x64, 0xa2, 0xa6, 0x6f, 0xac,  // tag
  };
  Bytes plain{6, 0, 0, 32};
  for (uint8_t i = 0; i < 28; ++i) plain.push_back(i);

  SyncCrypto a(kKey, kA, kB, 0x0102030405060708);
  REQUIRE(a.ready());
  CHECK(seal(a, plain) == expected);
  CHECK(a.next_seq() == 0x0102030405060709);

  SyncCrypto b(kKey, kB, kA, 1);
  const Result r = open(b, expected);
  REQUIRE_FALSE(r.error);
  CHECK(r.plain == plain);
  CHECK(r.seq == 0x0102030405060708);
  CHECK(b.highest_seq() == 0x0102030405060708);
}

TEST_CASE("Round trip in both directions between two nodes", "[pfsync][crypto]") {
  SyncCrypto a(kKey, kA, kB, 1000);
  SyncCrypto b(kKey, kB, kA, 5000);
  REQUIRE(a.enabled());
  REQUIRE(a.overhead() == 28);
  for (size_t n : {size_t(0), size_t(1), size_t(20), size_t(1400), size_t(9000), kMaxSyncPayload - 28}) {
    const Bytes p = frame_of(n, uint8_t(n));
    const Bytes ab = seal(a, p);
    CHECK(ab.size() == n + 28);
    const Result ra = open(b, ab);
    REQUIRE_FALSE(ra.error);
    CHECK(ra.plain == p);
    const Bytes ba = seal(b, p);
    const Result rb = open(a, ba);
    REQUIRE_FALSE(rb.error);
    CHECK(rb.plain == p);
  }
  CHECK(a.next_seq() == 1006);
  CHECK(b.highest_seq() == 1005);
  CHECK(b.next_seq() == 5006);
  CHECK(a.highest_seq() == 5005);
  // The same plaintext never gives the same ciphertext twice.
  const Bytes p = frame_of(100);
  CHECK(seal(a, p) != seal(a, p));
}

TEST_CASE("Every altered byte is refused and moves nothing", "[pfsync][crypto]") {
  SyncCrypto a(kKey, kA, kB, 1ull << 40);
  SyncCrypto b(kKey, kB, kA, 1);
  for (int i = 0; i < 3; ++i) REQUIRE_FALSE(open(b, seal(a, frame_of(64))).error);
  const uint64_t highest = b.highest_seq();
  const Bytes genuine = seal(a, frame_of(64));
  for (size_t i = 0; i < genuine.size(); ++i) {
    for (uint8_t flip : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
      Bytes t = genuine;
      t[i] ^= flip;
      const OpenError expected = i == 0 ? OpenError::NotSealed : i == 1 ? OpenError::BadAlgorithm : OpenError::BadTag;
      INFO("byte " << i << " ^ " << int(flip));
      CHECK(open(b, t).error == expected);
      CHECK(b.highest_seq() == highest);
    }
  }
  // A sequence number altered to one already accepted, or below the window,
  // is a forgery first: BadTag, not Replayed or TooOld.
  for (uint64_t s : {highest, highest - 5000}) {
    Bytes t = genuine;
    for (int k = 0; k < 8; ++k) t[size_t(4 + k)] = uint8_t(s >> (56 - 8 * k));
    CHECK(open(b, t).error == OpenError::BadTag);
  }
  // The genuine frame still opens: nothing above moved the window.
  const Result r = open(b, genuine);
  REQUIRE_FALSE(r.error);
  CHECK(r.plain == frame_of(64));
  CHECK(b.highest_seq() == highest + 1);
}

TEST_CASE("Every truncation is refused: below the envelope as Short, above as BadTag", "[pfsync][crypto]") {
  SyncCrypto a(kKey, kA, kB, 7);
  SyncCrypto b(kKey, kB, kA, 1);
  const Bytes genuine = seal(a, frame_of(40));
  for (size_t n = 0; n < genuine.size(); ++n) {
    // Each prefix in a buffer of its own size, so ASan sees any overread.
    const Bytes t(genuine.begin(), genuine.begin() + long(n));
    INFO("length " << n);
    CHECK(open(b, t).error == (n < SyncCrypto::kOverhead ? OpenError::Short : OpenError::BadTag));
    CHECK(b.highest_seq() == 0);
  }
  CHECK_FALSE(open(b, genuine).error);
}

TEST_CASE("Wrong key, another pair of addresses, or our own frame reflected: BadTag", "[pfsync][crypto]") {
  SyncCrypto a(kKey, kA, kB, 1);
  SyncCrypto wrong(std::string(kKey) + "!", kB, kA, 1);
  const std::array<uint8_t, 4> c{10, 0, 9, 3};
  SyncCrypto third(kKey, c, kA, 1);  // same key, but A's frames are not for it
  SyncCrypto b(kKey, kB, kA, 1);

  const Bytes f = seal(a, frame_of(100));
  CHECK(open(wrong, f).error == OpenError::BadTag);
  CHECK(open(third, f).error == OpenError::BadTag);
  CHECK(open(a, f).error == OpenError::BadTag);  // A -> B fed back to A
  CHECK(a.highest_seq() == 0);
  CHECK_FALSE(open(b, f).error);  // and it was a good frame
}

TEST_CASE("Replay: duplicates, reordering within the window, too old, restarts", "[pfsync][crypto]") {
  SyncCrypto a(kKey, kA, kB, 1'000'000);
  SyncCrypto b(kKey, kB, kA, 1);
  std::vector<Bytes> sent;
  for (int i = 0; i < 1100; ++i) sent.push_back(seal(a, frame_of(32, uint8_t(i))));

  SECTION("the same frame twice") {
    CHECK_FALSE(open(b, sent[0]).error);
    const Result r = open(b, sent[0]);
    CHECK(r.error == OpenError::Replayed);
    CHECK(r.seq == 1'000'000);
    CHECK_FALSE(open(b, sent[1]).error);
    CHECK(open(b, sent[0]).error == OpenError::Replayed);
  }
  SECTION("reordered within 1024 frames: each accepted once") {
    // Newest first, then the 1023 before it in reverse: all inside the window.
    for (int i = 1023; i >= 0; --i) CHECK_FALSE(open(b, sent[size_t(i)]).error);
    for (int i = 0; i < 1024; ++i) CHECK(open(b, sent[size_t(i)]).error == OpenError::Replayed);
    CHECK(b.highest_seq() == 1'000'000 + 1023);
  }
  SECTION("1024 or more below the highest: too old") {
    CHECK_FALSE(open(b, sent[1099]).error);
    CHECK(open(b, sent[1099 - 1024]).error == OpenError::TooOld);
    CHECK(open(b, sent[0]).error == OpenError::TooOld);
    CHECK_FALSE(open(b, sent[1099 - 1023]).error);  // the window's lowest number
  }
  SECTION("a restarted sender continues above, then its old frames are too old") {
    for (int i = 0; i < 10; ++i) CHECK_FALSE(open(b, sent[size_t(i)]).error);
    // hafwd gives the wall clock in microseconds: a restart lands far above.
    SyncCrypto restarted(kKey, kA, kB, 5'000'000'000);
    const Result r = open(b, seal(restarted, frame_of(32)));
    CHECK_FALSE(r.error);
    CHECK(r.seq == 5'000'000'000);
    CHECK(open(b, sent[10]).error == OpenError::TooOld);
    CHECK(open(b, sent[1099]).error == OpenError::TooOld);
    CHECK_FALSE(open(b, seal(restarted, frame_of(32))).error);
  }
  SECTION("a sender restarted with a lower number is refused until it passes the old one") {
    CHECK_FALSE(open(b, sent[1099]).error);
    SyncCrypto behind(kKey, kA, kB, 1);  // its clock went back
    CHECK(open(b, seal(behind, frame_of(32))).error == OpenError::TooOld);
  }
}

TEST_CASE("The replay window against a model of its rules", "[pfsync][crypto]") {
  SECTION("the slot of a number is reused once the window passes it") {
    ReplayWindow w;
    CHECK(w.empty());
    CHECK_FALSE(w.accept(100));
    CHECK_FALSE(w.accept(50));    // below the first, inside the window
    CHECK_FALSE(w.accept(1100));  // 1100 - 1023 = 77 is the lowest now
    CHECK(w.accept(100) == OpenError::Replayed);
    CHECK(w.accept(50) == OpenError::TooOld);
    CHECK_FALSE(w.accept(77));
    CHECK_FALSE(w.accept(1101));  // shares 77's slot (mod 1024): 77 leaves
    CHECK(w.accept(77) == OpenError::TooOld);
    CHECK(w.accept(1101) == OpenError::Replayed);
    CHECK(w.highest() == 1101);
  }
  SECTION("numbers near the top of the range") {
    ReplayWindow w;
    const uint64_t top = std::numeric_limits<uint64_t>::max();
    CHECK_FALSE(w.accept(top - 1));
    CHECK_FALSE(w.accept(top));
    CHECK(w.accept(top - 1) == OpenError::Replayed);
    CHECK_FALSE(w.accept(top - 1023));
    CHECK(w.accept(top - 1024) == OpenError::TooOld);
  }
  SECTION("random arrivals agree with a set of everything accepted") {
    std::mt19937_64 rng(42);
    ReplayWindow w;
    std::set<uint64_t> accepted;
    uint64_t highest = 0, base = 1'000'000;
    for (int i = 0; i < 200'000; ++i) {
      uint64_t s;
      switch (rng() % 8) {
        case 0: s = base + rng() % 3000; break;                        // anywhere near
        case 1: base += rng() % 2000; s = base; break;                 // a jump ahead
        default: s = highest + 3 - std::min<uint64_t>(highest, rng() % 1100); break;  // around the edge
      }
      std::optional<OpenError> want;
      if (!accepted.empty() && s <= highest && highest - s >= ReplayWindow::kSize) want = OpenError::TooOld;
      else if (accepted.count(s)) want = OpenError::Replayed;
      INFO("arrival " << i << " seq " << s << " highest " << highest);
      REQUIRE(w.accept(s) == want);
      if (!want) {
        accepted.insert(s);
        highest = std::max(highest, s);
      }
    }
  }
}

TEST_CASE("Without a key: cleartext passes unchanged, sealed frames are refused", "[pfsync][crypto]") {
  SyncCrypto plain_a("", kA, kB, 1);
  SyncCrypto plain_b("", kB, kA, 1);
  SyncCrypto keyed_a(kKey, kA, kB, 1);
  SyncCrypto keyed_b(kKey, kB, kA, 1);
  CHECK_FALSE(plain_a.enabled());
  CHECK(plain_a.ready());
  CHECK(plain_a.overhead() == 0);

  const Bytes p = frame_of(84);
  const Bytes clear = seal(plain_a, p);
  CHECK(clear == p);  // byte-compatible pfsync v6
  const Result r = open(plain_b, clear);
  REQUIRE_FALSE(r.error);
  CHECK(r.plain == p);

  CHECK(open(plain_b, seal(keyed_a, p)).error == OpenError::Sealed);
  CHECK(open(keyed_b, clear).error == OpenError::NotSealed);
  CHECK(open(keyed_b, Bytes{6}).error == OpenError::NotSealed);  // cleartext of any length
  CHECK(open(plain_b, Bytes{}).error == OpenError::Short);
  CHECK(open(keyed_b, Bytes{}).error == OpenError::Short);
}

TEST_CASE("Sequence numbers never wrap", "[pfsync][crypto]") {
  const uint64_t top = std::numeric_limits<uint64_t>::max();
  SyncCrypto a(kKey, kA, kB, top - 2);
  SyncCrypto b(kKey, kB, kA, 1);
  const Bytes p = frame_of(20);
  Bytes out(p.size() + 28);
  REQUIRE(a.seal(p, out) == out.size());
  CHECK_FALSE(open(b, out).error);
  REQUIRE(a.seal(p, out) == out.size());
  CHECK(open(b, out).seq == top - 1);
  CHECK(a.next_seq() == top);
  CHECK(a.seal(p, out) == 0);  // top itself is never used
  CHECK(a.next_seq() == top);
}

TEST_CASE("Buffers and lengths out of range are refused without writing past them", "[pfsync][crypto]") {
  SyncCrypto a(kKey, kA, kB, 1);
  SyncCrypto b(kKey, kB, kA, 1);
  const Bytes p = frame_of(100);
  Bytes small(p.size() + 27);
  CHECK(a.seal(p, small) == 0);
  CHECK(a.next_seq() == 1);  // nothing was sealed, no number used
  const Bytes too_big(kMaxSyncPayload - 27);
  Bytes big(too_big.size() + 28);
  CHECK(a.seal(too_big, big) == 0);

  const Bytes f = seal(a, p);
  Bytes out(p.size() - 1);
  CHECK(b.open(f, out).error == OpenError::TooLong);
  CHECK(b.highest_seq() == 0);
  Bytes huge(kMaxSyncPayload + 1, 0);
  huge[0] = kSealedMagic;
  huge[1] = kAlgAes256Gcm;
  CHECK(open(b, huge).error == OpenError::TooLong);
  CHECK_FALSE(open(b, f).error);

  SyncCrypto clear("", kB, kA, 1);
  Bytes short_out(p.size() - 1);
  CHECK(clear.open(p, short_out).error == OpenError::TooLong);
  CHECK(clear.seal(p, short_out) == 0);
}

TEST_CASE("A key with unusable addresses is not ready and seals or opens nothing", "[pfsync][crypto]") {
  const std::array<uint8_t, 16> v6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  SyncCrypto broken(kKey, kA, v6, 1);
  CHECK(broken.enabled());
  CHECK_FALSE(broken.ready());
  const Bytes p = frame_of(40);
  Bytes out(p.size() + 28);
  CHECK(broken.seal(p, out) == 0);
  SyncCrypto a(kKey, kA, kB, 1);
  CHECK(open(broken, seal(a, p)).error == OpenError::BadTag);
}

TEST_CASE("Sealing and opening allocate nothing: the contexts live as long as the object", "[pfsync][crypto]") {
  REQUIRE(counting_allocations);
  SyncCrypto a(kKey, kA, kB, 1);
  SyncCrypto b(kKey, kB, kA, 1);
  const Bytes p = frame_of(1400);
  Bytes sealed(p.size() + 28), opened(sealed.size());
  REQUIRE(a.seal(p, sealed) == sealed.size());
  REQUIRE_FALSE(b.open(sealed, opened).error);
  const long before = openssl_allocations;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(a.seal(p, sealed) == sealed.size());
    REQUIRE_FALSE(b.open(sealed, opened).error);
    REQUIRE(b.open(sealed, opened).error == OpenError::Replayed);
    sealed[30] ^= 1;
    REQUIRE(b.open(sealed, opened).error == OpenError::BadTag);
  }
  CHECK(openssl_allocations - before == 0);
}

TEST_CASE("Refusal names are the counters' names", "[pfsync][crypto][counters]") {
  std::vector<std::string> names;
  for (const auto& e : kOpenErrors) names.push_back(e.name);
  CHECK(names == std::vector<std::string>{"short", "not_sealed", "sealed_without_key", "bad_algorithm", "bad_tag",
                                          "replayed", "too_old", "too_long"});
  CHECK(std::string(name(OpenError::BadTag)) == "bad_tag");
}
