#include "carp/carp.h"

#include <array>

namespace hafw::carp {

const char* state_name(State s) {
  switch (s) {
    case State::Init: return "INIT";
    case State::Backup: return "BACKUP";
    case State::Master: return "MASTER";
  }
  return "?";
}

// Names are what `hafwctl stats` and the JSON counters show; keep them stable.
static constexpr std::array<const char*, size_t(Drop::Count)> kDropNames = {
    "bad_ttl", "bad_length", "bad_version", "bad_type", "bad_authlen", "bad_checksum",
    "unknown_vhid", "bad_auth", "own_advert", "bad_address_family", "bad_ip_header", "not_carp",
};
static_assert(kDropNames.size() == size_t(Drop::Count) && kDropNames.back() != nullptr);

const char* drop_name(Drop d) {
  return size_t(d) < kDropNames.size() ? kDropNames[size_t(d)] : "?";
}

}  // namespace hafw::carp
