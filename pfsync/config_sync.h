// Config sync over the sync link (docs/sync.md, "Config sync"): the
// primary's configuration, cut into hafw's config chunks (action 200,
// pfsync/wire.h), and put together again on the secondary.
//
//   - ConfigSender cuts one configuration into chunks as room in frames
//     allows; a push sends it from the start, a re-push again.
//   - ConfigAssembler takes chunks one configuration (generation) at a
//     time, in order, into a buffer of at most kMaxConfigSize bytes, and
//     hands on a configuration only when it is whole and its SHA-256 is the
//     one every chunk carries. Everything else is dropped and counted by
//     reason: a lost chunk, a newer generation, a timeout, a bad digest.
//
// Pure code: no clock (the caller passes the time), no logging, no socket.
// Whether the configuration means anything is the caller's business.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/net/named.h"
#include "dataplane/net/time.h"
#include "pfsync/wire.h"

namespace hafw::pfsync {

using Digest = std::array<uint8_t, 32>;
Digest sha256(std::span<const uint8_t> bytes);

// Why config chunks or whole configurations were dropped. Per chunk: not
// authenticated, not for us, stale, inconsistent, too big, a gap,
// a duplicate. Per configuration: superseded, timed out, a bad digest.
enum class ConfigDrop : uint8_t {
  Cleartext,
  NotAccepted,
  Stale,
  Inconsistent,
  TooBig,
  Gap,
  Duplicate,
  Superseded,
  Timeout,
  BadDigest,
  Count,
};

inline constexpr std::array<net::Named<ConfigDrop>, size_t(ConfigDrop::Count)> kConfigDrops{{
    {ConfigDrop::Cleartext, "cleartext",
     "config chunks in a cleartext frame: config sync needs sync.key on both nodes, so no one on the sync "
     "segment can change this node's configuration"},
    {ConfigDrop::NotAccepted, "not_accepted",
     "config chunks received by a node that takes no configuration: it is the primary, or sets "
     "sync.config_sync itself"},
    {ConfigDrop::Stale, "stale", "config chunks of a configuration older than the one being put together or last completed"},
    {ConfigDrop::Inconsistent, "inconsistent",
     "config chunks whose total length or SHA-256 differ from the first chunk of their configuration (which is dropped)"},
    {ConfigDrop::TooBig, "too_big", "config chunks of a configuration over 1 MiB"},
    {ConfigDrop::Gap, "gap",
     "config chunks that do not follow on from the bytes already received (one before was lost): the "
     "configuration is dropped until the next push"},
    {ConfigDrop::Duplicate, "duplicate", "config chunks already received"},
    {ConfigDrop::Superseded, "superseded", "configurations dropped incomplete because a newer one started"},
    {ConfigDrop::Timeout, "timeout", "configurations dropped incomplete: no chunk for 2 s"},
    {ConfigDrop::BadDigest, "bad_digest", "configurations complete but whose SHA-256 is not the one announced"},
}};
static_assert(net::in_enum_order(kConfigDrops), "kConfigDrops must list every ConfigDrop in order");
inline const char* name(ConfigDrop d) { return net::name_of(kConfigDrops, d); }

class ConfigSender {
 public:
  // A new configuration to push, from its first byte. False (and the last
  // one stays) when it is empty or over kMaxConfigSize.
  bool set(std::string text, uint64_t generation);
  // Send the current configuration again from the start.
  void repush() { offset_ = 0; }
  bool has_config() const { return !text_.empty(); }
  bool pending() const { return offset_ < text_.size(); }
  uint64_t generation() const { return generation_; }
  // The next chunk, of at most max bytes (> 0); call only while pending().
  // Its data points into this object: valid until the next set().
  ConfigChunkRecord next(size_t max);

 private:
  std::string text_;
  uint64_t generation_ = 0;
  Digest digest_{};
  size_t offset_ = 0;
};

class ConfigAssembler {
 public:
  // An incomplete configuration with no chunk for this long is dropped.
  static constexpr Time kTimeout = std::chrono::seconds(2);

  explicit ConfigAssembler(uint32_t max_size = kMaxConfigSize) : max_(max_size) {}

  struct Complete {
    uint64_t generation = 0;
    std::string_view text;  // valid until the next offer()
  };
  // One chunk. Returns the configuration when this chunk completed it and
  // its digest checked; otherwise nothing (the chunk was kept, or dropped
  // and counted).
  std::optional<Complete> offer(const ConfigChunkRecord& r, Time now);
  // Drop an incomplete configuration that has waited kTimeout.
  void expire(Time now);
  // The next chunks of the configuration last completed are taken again
  // instead of counted as repeated (the caller refused it, and wants it
  // again to look at it once more).
  void forget_completed() { have_done_ = false; }
  // A chunk refused before it reached offer() (Cleartext, NotAccepted).
  void drop(ConfigDrop why) { ++drops_[size_t(why)]; }

  uint64_t dropped(ConfigDrop why) const { return drops_[size_t(why)]; }
  const std::array<uint64_t, size_t(ConfigDrop::Count)>& drops() const { return drops_; }
  uint64_t completed() const { return completed_; }
  // Chunks put into a configuration (whether or not it completed).
  uint64_t taken() const { return taken_; }
  // Chunks of the configuration last completed, received again (the
  // primary's re-push): nothing to do, not a drop.
  uint64_t repeated() const { return repeated_; }
  bool assembling() const { return assembling_; }
  size_t bytes() const { return buf_.size(); }  // of the configuration being put together

 private:
  void abandon(ConfigDrop why);
  void count(ConfigDrop why) { ++drops_[size_t(why)]; }

  uint32_t max_;
  bool assembling_ = false;
  uint64_t generation_ = 0;  // the one being put together
  uint32_t total_ = 0;
  Digest digest_{};
  std::string buf_;
  Time last_{};
  bool have_done_ = false;
  uint64_t done_ = 0;  // the last generation completed
  uint64_t completed_ = 0, repeated_ = 0, taken_ = 0;
  std::array<uint64_t, size_t(ConfigDrop::Count)> drops_{};
};

}  // namespace hafw::pfsync
