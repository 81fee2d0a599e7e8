#include "pfsync/config_sync.h"

#include <openssl/evp.h>

#include <algorithm>

namespace hafw::pfsync {

Digest sha256(std::span<const uint8_t> bytes) {
  Digest d{};
  unsigned int len = 0;
  // EVP_Digest fails only without a SHA-256 in the loaded providers; the
  // digest then stays zero and no receiver accepts what it covers.
  EVP_Digest(bytes.data(), bytes.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

// ------------------------------------------------------------ sender

bool ConfigSender::set(std::string text, uint64_t generation) {
  if (text.empty() || text.size() > kMaxConfigSize) return false;
  text_ = std::move(text);
  generation_ = generation;
  digest_ = sha256({reinterpret_cast<const uint8_t*>(text_.data()), text_.size()});
  offset_ = 0;
  return true;
}

ConfigChunkRecord ConfigSender::next(size_t max) {
  const size_t n = std::min({max, kMaxChunkData, text_.size() - offset_});
  ConfigChunkRecord r{.generation = generation_,
                      .total = uint32_t(text_.size()),
                      .offset = uint32_t(offset_),
                      .sha256 = digest_,
                      .data = {reinterpret_cast<const uint8_t*>(text_.data()) + offset_, n}};
  offset_ += n;
  return r;
}

// ------------------------------------------------------------ receiver

void ConfigAssembler::abandon(ConfigDrop why) {
  count(why);
  assembling_ = false;
  buf_.clear();
}

void ConfigAssembler::expire(Time now) {
  if (assembling_ && now - last_ >= kTimeout) abandon(ConfigDrop::Timeout);
}

std::optional<ConfigAssembler::Complete> ConfigAssembler::offer(const ConfigChunkRecord& r, Time now) {
  expire(now);
  if (r.total > max_) {
    count(ConfigDrop::TooBig);
    return std::nullopt;
  }
  if (assembling_ && r.generation != generation_) {
    if (r.generation < generation_) {
      count(ConfigDrop::Stale);
      return std::nullopt;
    }
    abandon(ConfigDrop::Superseded);  // a newer configuration starts: the old one will not complete
  }
  if (!assembling_) {
    if (have_done_ && r.generation == done_) {
      ++repeated_;
      return std::nullopt;
    }
    // Older than what was last completed: a delayed chunk. (A primary that
    // restarted numbers its pushes from its clock, so it counts up.)
    if (have_done_ && r.generation < done_) {
      count(ConfigDrop::Stale);
      return std::nullopt;
    }
    if (r.offset != 0) {  // the start was lost
      count(ConfigDrop::Gap);
      return std::nullopt;
    }
    assembling_ = true;
    generation_ = r.generation;
    total_ = r.total;
    digest_ = r.sha256;
    buf_.clear();
    buf_.reserve(r.total);
  } else if (r.total != total_ || r.sha256 != digest_) {
    abandon(ConfigDrop::Inconsistent);
    return std::nullopt;
  }
  if (r.offset < buf_.size()) {
    count(ConfigDrop::Duplicate);
    return std::nullopt;
  }
  if (r.offset > buf_.size()) {
    abandon(ConfigDrop::Gap);
    return std::nullopt;
  }
  // decode() checked offset + length <= total.
  buf_.append(reinterpret_cast<const char*>(r.data.data()), r.data.size());
  ++taken_;
  last_ = now;
  if (buf_.size() < total_) return std::nullopt;
  assembling_ = false;
  if (sha256({reinterpret_cast<const uint8_t*>(buf_.data()), buf_.size()}) != digest_) {
    count(ConfigDrop::BadDigest);
    buf_.clear();
    return std::nullopt;
  }
  have_done_ = true;
  done_ = generation_;
  ++completed_;
  return Complete{.generation = generation_, .text = buf_};
}

}  // namespace hafw::pfsync
