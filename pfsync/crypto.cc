#include "pfsync/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>
#include <limits>

namespace hafw::pfsync {

namespace {

// RFC 5869 §3.1: a salt that is not secret still separates this use of the
// key from any other; the version in it lets a later derivation coexist.
constexpr std::string_view kHkdfSalt = "hafw sync v1";
constexpr std::string_view kHkdfInfoPrefix = "hafw sync ";
constexpr size_t kNonceLen = 12;  // GCM's own IV size (NIST SP 800-38D §5.2.1.1): no GHASH of the IV
static_assert(kNonceLen == sizeof(DirectionKey::salt) + sizeof(uint64_t));
static_assert(kMaxSyncPayload <= size_t(std::numeric_limits<int>::max()));

void put_be64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (56 - 8 * i));
}

uint64_t get_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

// The nonce: the direction's salt, then the sequence number as the header
// carries it. Distinct per frame as long as a sender never reuses a number.
std::array<uint8_t, kNonceLen> nonce(const std::array<uint8_t, 4>& salt, const uint8_t* seq_be) {
  std::array<uint8_t, kNonceLen> n;
  std::memcpy(n.data(), salt.data(), salt.size());
  std::memcpy(n.data() + salt.size(), seq_be, 8);
  return n;
}

// An AES-256-GCM context holding one direction's key schedule; each frame
// then only sets its IV. Null if OpenSSL refuses.
EVP_CIPHER_CTX* make_ctx(const DirectionKey& k, bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return nullptr;
  if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, k.aes.data(), nullptr, encrypt ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_get_iv_length(ctx) != int(kNonceLen)) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

DirectionKey::~DirectionKey() {
  OPENSSL_cleanse(aes.data(), aes.size());
  OPENSSL_cleanse(salt.data(), salt.size());
}

bool derive_direction_key(std::string_view key, std::span<const uint8_t> sender, std::span<const uint8_t> receiver,
                          DirectionKey& out) {
  if (key.empty() || sender.size() != receiver.size() || (sender.size() != 4 && sender.size() != 16)) return false;
  std::array<uint8_t, kHkdfInfoPrefix.size() + 2 * 16> info;
  std::memcpy(info.data(), kHkdfInfoPrefix.data(), kHkdfInfoPrefix.size());
  std::memcpy(info.data() + kHkdfInfoPrefix.size(), sender.data(), sender.size());
  std::memcpy(info.data() + kHkdfInfoPrefix.size() + sender.size(), receiver.data(), receiver.size());
  const size_t info_len = kHkdfInfoPrefix.size() + 2 * sender.size();

  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* kctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (kctx == nullptr) return false;
  // OSSL_PARAM takes non-const pointers; HKDF copies and never writes them.
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kHkdfSalt.data()), kHkdfSalt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info_len),
      OSSL_PARAM_construct_end(),
  };
  std::array<uint8_t, sizeof(DirectionKey)> okm;
  const bool ok = EVP_KDF_derive(kctx, okm.data(), okm.size(), params) == 1;
  EVP_KDF_CTX_free(kctx);
  if (ok) {
    std::memcpy(out.aes.data(), okm.data(), out.aes.size());
    std::memcpy(out.salt.data(), okm.data() + out.aes.size(), out.salt.size());
  }
  OPENSSL_cleanse(okm.data(), okm.size());
  return ok;
}

std::optional<OpenError> ReplayWindow::accept(uint64_t seq) {
  if (started_ && seq <= highest_) {
    // RFC 4303 §3.4.3: below the window is too old, inside it once only.
    if (highest_ - seq >= kSize) return OpenError::TooOld;
    if (seen(seq)) return OpenError::Replayed;
    mark(seq);
    return std::nullopt;
  }
  // A new highest: the numbers the window slides over have not been seen.
  // A jump of a whole window or more (a restarted peer) clears it all.
  if (!started_ || seq - highest_ >= kSize) {
    bits_.fill(0);
  } else {
    for (uint64_t s = highest_ + 1; s != seq; ++s) bits_[s / 64 % kWords] &= ~(uint64_t(1) << (s % 64));
  }
  started_ = true;
  highest_ = seq;
  mark(seq);
  return std::nullopt;
}

SyncCrypto::SyncCrypto(std::string_view key, std::span<const uint8_t> local_addr, std::span<const uint8_t> peer_addr,
                       uint64_t first_seq)
    : enabled_(!key.empty()), next_seq_(first_seq) {
  if (!enabled_) return;
  DirectionKey out, in;
  if (!derive_direction_key(key, local_addr, peer_addr, out) || !derive_direction_key(key, peer_addr, local_addr, in))
    return;
  seal_ctx_ = make_ctx(out, true);
  open_ctx_ = make_ctx(in, false);
  seal_salt_ = out.salt;
  open_salt_ = in.salt;
}

SyncCrypto::~SyncCrypto() {
  // Freeing a context wipes the key schedule it holds.
  EVP_CIPHER_CTX_free(seal_ctx_);
  EVP_CIPHER_CTX_free(open_ctx_);
  OPENSSL_cleanse(seal_salt_.data(), seal_salt_.size());
  OPENSSL_cleanse(open_salt_.data(), open_salt_.size());
}

size_t SyncCrypto::seal(std::span<const uint8_t> plain, std::span<uint8_t> out) {
  if (!enabled_) {
    if (out.size() < plain.size() || plain.size() > kMaxSyncPayload) return 0;
    if (!plain.empty()) std::memcpy(out.data(), plain.data(), plain.size());
    return plain.size();
  }
  // The last number is never used, so next_seq() never wraps to a used one.
  if (seal_ctx_ == nullptr || next_seq_ == std::numeric_limits<uint64_t>::max() ||
      plain.size() > kMaxSyncPayload - kOverhead || out.size() < plain.size() + kOverhead)
    return 0;
  uint8_t* hdr = out.data();
  uint8_t* body = hdr + kSealHeaderLen;
  uint8_t* tag = body + plain.size();
  hdr[0] = kSealedMagic;
  hdr[1] = kAlgAes256Gcm;
  hdr[2] = hdr[3] = 0;
  put_be64(hdr + 4, next_seq_);
  // Burn the number before anything can fail: a nonce is never used twice.
  ++next_seq_;
  const auto iv = nonce(seal_salt_, hdr + 4);
  int n = 0;
  if (EVP_EncryptInit_ex(seal_ctx_, nullptr, nullptr, nullptr, iv.data()) != 1 ||
      EVP_EncryptUpdate(seal_ctx_, nullptr, &n, hdr, int(kSealHeaderLen)) != 1 ||
      (!plain.empty() && EVP_EncryptUpdate(seal_ctx_, body, &n, plain.data(), int(plain.size())) != 1) ||
      EVP_EncryptFinal_ex(seal_ctx_, tag, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(seal_ctx_, EVP_CTRL_GCM_GET_TAG, int(kSealTagLen), tag) != 1)
    return 0;
  return plain.size() + kOverhead;
}

SyncCrypto::Opened SyncCrypto::open(std::span<const uint8_t> in, std::span<uint8_t> out) {
  if (in.empty()) return {.error = OpenError::Short};
  if (!enabled_) {
    if (in[0] == kSealedMagic) return {.error = OpenError::Sealed};
    if (in.size() > kMaxSyncPayload || out.size() < in.size()) return {.error = OpenError::TooLong};
    std::memcpy(out.data(), in.data(), in.size());
    return {.len = in.size()};
  }
  // A cleartext frame is refused whatever its length: it is the peer's
  // configuration (or an injection) that is wrong, not the frame.
  if (in[0] != kSealedMagic) return {.error = OpenError::NotSealed};
  if (in.size() < kOverhead) return {.error = OpenError::Short};
  const size_t len = in.size() - kOverhead;
  if (in.size() > kMaxSyncPayload || out.size() < len) return {.error = OpenError::TooLong};
  if (in[1] != kAlgAes256Gcm) return {.error = OpenError::BadAlgorithm};
  if (open_ctx_ == nullptr) return {.error = OpenError::BadTag};

  const uint8_t* hdr = in.data();
  const uint8_t* body = hdr + kSealHeaderLen;
  // EVP_CTRL_GCM_SET_TAG takes a writable buffer.
  std::array<uint8_t, kSealTagLen> tag;
  std::memcpy(tag.data(), body + len, tag.size());
  const auto iv = nonce(open_salt_, hdr + 4);
  int n = 0;
  // The header is the AAD: reserved bytes and the sequence number are
  // authenticated with the rest, so altering any byte fails the tag.
  if (EVP_DecryptInit_ex(open_ctx_, nullptr, nullptr, nullptr, iv.data()) != 1 ||
      EVP_DecryptUpdate(open_ctx_, nullptr, &n, hdr, int(kSealHeaderLen)) != 1 ||
      (len != 0 && EVP_DecryptUpdate(open_ctx_, out.data(), &n, body, int(len)) != 1) ||
      EVP_CIPHER_CTX_ctrl(open_ctx_, EVP_CTRL_GCM_SET_TAG, int(tag.size()), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(open_ctx_, out.data() + len, &n) != 1)
    return {.error = OpenError::BadTag};

  // Only now, with the frame authentic, may its number touch the window.
  const uint64_t seq = get_be64(hdr + 4);
  if (auto e = window_.accept(seq)) return {.error = e, .seq = seq};
  return {.len = len, .seq = seq};
}

}  // namespace hafw::pfsync
