// The node's demotion counter, by cause (OpenBSD's "carp" interface group
// demote counter, kept as its parts so an operator can see why).
//
// Each cause holds a value; the demotion a VHID advertises is their sum,
// capped at 255. Any demotion above the peer's makes this node give up MASTER
// (and the peer take it, whatever its preempt setting), so one failed
// interface moves every VIP of the node to the peer instead of leaving a
// split master.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hafw::carp {

class Demotion {
 public:
  // Well-known causes (OpenBSD's values): a VHID's parent link down +1 each,
  // the sync link down +1, the bulk state update pending +1; the operator's
  // is any value.
  static constexpr int kLinkDown = 1;
  static constexpr int kSyncLinkDown = 1;
  static constexpr int kBulkPending = 1;

  // Sets `cause` to `value` (0 removes it). Returns true when the total moved.
  bool set(const std::string& cause, int value);
  int get(const std::string& cause) const;
  // The sum, clamped to 0..255: what byte 4 of the advert carries.
  uint8_t total() const;
  // Non-zero causes, in the order they were first raised.
  const std::vector<std::pair<std::string, int>>& causes() const { return causes_; }

 private:
  std::vector<std::pair<std::string, int>> causes_;
};

}  // namespace hafw::carp
