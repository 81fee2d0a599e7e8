// Authenticated encryption of the state sync link (docs/sync-security.md).
//
// Plain pfsync is cleartext and unauthenticated: anyone on the sync segment
// can read every connection or inject states. With `sync.key` set, every
// frame is sealed with AES-256-GCM: a 12-byte header, the ciphertext of the
// whole pfsync frame, a 16-byte tag (28 bytes of overhead):
//
//   0      1    2-3  4..11               12 .. n-17      n-16 .. n-1
//   0xE6   alg  0    sequence (BE 64)    ciphertext      GCM tag (16)
//
// The header is the AAD, so every byte of the frame is authenticated. 0xE6
// differs from pfsync's version byte 6: a receiver without a key counts a
// sealed frame as a bad version, and a receiver with a key refuses
// cleartext. Each direction has its own key and nonce salt, derived with
// HKDF-SHA256 from the key and the two addresses in order, so the directions
// never share a nonce space and a frame reflected to its sender fails.
//
// Pure code: no allocation per frame, no clock (the first sequence number is
// passed in), no logging; refusals are returned, and counted by the caller.
// One object serves one peer on one thread.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "dataplane/net/named.h"

namespace hafw::pfsync {

// The envelope's first byte: not a pfsync version (6), so the two never mix.
constexpr uint8_t kSealedMagic = 0xE6;
constexpr uint8_t kAlgAes256Gcm = 1;
constexpr size_t kSealHeaderLen = 12;
constexpr size_t kSealTagLen = 16;
// The largest IP payload: the total length field is 16 bits. Longer input is
// not a frame (and OpenSSL counts lengths in int).
constexpr size_t kMaxSyncPayload = 65535;

// Why a received frame was refused before it reached the pfsync decoder.
enum class OpenError : uint8_t {
  Short,
  NotSealed,  // cleartext frame while a key is set
  Sealed,     // sealed frame while no key
  BadAlgorithm,
  BadTag,
  Replayed,
  TooOld,
  TooLong,
  Count,
};

inline constexpr std::array<net::Named<OpenError>, size_t(OpenError::Count)> kOpenErrors{{
    {OpenError::Short, "short", "empty, or sealed but shorter than the 28-byte envelope (12-byte header, 16-byte tag)"},
    {OpenError::NotSealed, "not_sealed",
     "a cleartext pfsync frame while sync.key is set: the peer has no key, or someone injects states"},
    {OpenError::Sealed, "sealed_without_key", "a sealed frame while this node has no sync.key: the peer has one"},
    {OpenError::BadAlgorithm, "bad_algorithm", "an envelope algorithm other than 1 (AES-256-GCM)"},
    {OpenError::BadTag, "bad_tag",
     "authentication failed: a different sync.key, a frame altered or forged on the way, or our own frame "
     "reflected back"},
    {OpenError::Replayed, "replayed",
     "authentic, but its sequence number was already accepted: a duplicate on the link or a replay"},
    {OpenError::TooOld, "too_old",
     "authentic, but 1024 or more numbers below the highest accepted: reordered too far, or a replay"},
    {OpenError::TooLong, "too_long", "longer than an IP payload (65,535 bytes) or than the receive buffer"},
}};
static_assert(net::in_enum_order(kOpenErrors), "kOpenErrors must list every OpenError in order");
inline const char* name(OpenError e) { return net::name_of(kOpenErrors, e); }

// One direction's key material: HKDF-SHA256(ikm = key, salt = "hafw sync v1",
// info = "hafw sync " || sender address || receiver address), 36 bytes: the
// AES-256 key, then the 4-byte salt the nonce starts with. Wiped when it
// goes out of scope.
struct DirectionKey {
  std::array<uint8_t, 32> aes{};
  std::array<uint8_t, 4> salt{};
  DirectionKey() = default;
  DirectionKey(const DirectionKey&) = delete;
  DirectionKey& operator=(const DirectionKey&) = delete;
  ~DirectionKey();
};
static_assert(sizeof(DirectionKey) == 36);

// False for an empty key (that is "no key": cleartext), addresses that are
// not both 4 or both 16 bytes, or an OpenSSL failure (no HKDF or SHA-256 in
// the loaded providers).
bool derive_direction_key(std::string_view key, std::span<const uint8_t> sender,
                          std::span<const uint8_t> receiver, DirectionKey& out);

// The RFC 4303 (IPsec ESP) anti-replay window, 1024 frames wide: the highest
// number accepted and a bitmap of the 1024 numbers ending at it, kept as a
// ring of words indexed by the number itself (as in RFC 6479), so moving the
// window clears bits instead of shifting the map. Kept apart from the cipher
// so its rules are tested on their own.
class ReplayWindow {
 public:
  // ESP's default is 64. A direct sync link does not reorder; the width
  // bounds how far a delayed frame may fall behind and still count: during a
  // bulk update (about 100,000 frames a second) 1024 frames are 10 ms. The
  // map costs 128 bytes.
  static constexpr uint64_t kSize = 1024;

  // Replayed or TooOld, or nothing: then seq is recorded, and a new highest
  // moves the window. Call only for an authenticated frame.
  std::optional<OpenError> accept(uint64_t seq);
  uint64_t highest() const { return highest_; }
  bool empty() const { return !started_; }

 private:
  bool seen(uint64_t seq) const { return bits_[seq / 64 % kWords] >> (seq % 64) & 1; }
  void mark(uint64_t seq) { bits_[seq / 64 % kWords] |= uint64_t(1) << (seq % 64); }

  static constexpr size_t kWords = kSize / 64;
  // Bit (seq mod 1024) is set when seq, in [highest - 1023, highest], was accepted.
  std::array<uint64_t, kWords> bits_{};
  uint64_t highest_ = 0;
  bool started_ = false;  // the first authenticated frame starts the window wherever it is
};

class SyncCrypto {
 public:
  // An empty key: cleartext mode, seal() copies, open() accepts only frames
  // that are not sealed (first byte != 0xE6). Addresses are the raw 4 or 16
  // bytes of this node's and the peer's sync addresses. first_seq is the
  // first number seal() uses; hafwd passes the wall clock in microseconds at
  // start, so a restarted node continues above every number it sent before
  // (as long as the clock has not gone back across the restart).
  SyncCrypto(std::string_view key, std::span<const uint8_t> local_addr, std::span<const uint8_t> peer_addr,
             uint64_t first_seq);
  ~SyncCrypto();
  SyncCrypto(const SyncCrypto&) = delete;
  SyncCrypto& operator=(const SyncCrypto&) = delete;

  bool enabled() const { return enabled_; }
  // False when a key is set but the contexts could not be made (see
  // derive_direction_key): seal() then always fails and open() refuses every
  // sealed frame as BadTag. The caller should refuse to start rather than run
  // so: the peer would see nothing but failures.
  bool ready() const { return !enabled_ || (seal_ctx_ != nullptr && open_ctx_ != nullptr); }

  static constexpr size_t kOverhead = kSealHeaderLen + kSealTagLen;
  static_assert(kOverhead == 28);
  size_t overhead() const { return enabled_ ? kOverhead : 0; }

  // out.size() >= plain.size() + overhead(); returns the bytes written, 0 on
  // failure (sequence exhausted, out too small, plain longer than
  // kMaxSyncPayload - overhead(), OpenSSL error). plain and out must not
  // overlap. A sequence number is used once even if sealing failed.
  size_t seal(std::span<const uint8_t> plain, std::span<uint8_t> out);

  struct Opened {
    std::optional<OpenError> error{};
    size_t len = 0;    // plaintext bytes written to out
    uint64_t seq = 0;  // the frame's sequence number, when it authenticated (0 in cleartext mode)
  };
  // Decrypts and verifies into out (out.size() >= in.size() - overhead());
  // on error out's content is unspecified and nothing of the frame may be
  // used. The tag is checked before the replay window (ESP checks the
  // window first, to drop duplicates cheaply), and only an authentic frame
  // moves the window: a forgery counts as BadTag whatever its sequence
  // number, so Replayed and TooOld count authentic frames only. A flood costs
  // one GCM pass per frame either way, since a forger can pick new numbers.
  Opened open(std::span<const uint8_t> in, std::span<uint8_t> out);

  // The number the next seal() uses (UINT64_MAX once exhausted).
  uint64_t next_seq() const { return next_seq_; }
  // The highest number open() accepted (0 before the first).
  uint64_t highest_seq() const { return window_.highest(); }

 private:
  bool enabled_ = false;
  EVP_CIPHER_CTX* seal_ctx_ = nullptr;  // key(local -> peer), kept for the object's life
  EVP_CIPHER_CTX* open_ctx_ = nullptr;  // key(peer -> local)
  std::array<uint8_t, 4> seal_salt_{};
  std::array<uint8_t, 4> open_salt_{};
  uint64_t next_seq_ = 0;
  ReplayWindow window_;
};

}  // namespace hafw::pfsync
