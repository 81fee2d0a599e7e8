#pragma once
// What a client that pings at a fixed rate sees of an outage: the largest
// time between two replies as they arrived, and the longest run of requests
// that got no answer. hafw-ping (tools/bench/hafw_ping.cc) fills it; the
// failover benchmark reads its summary (docs/benchmarks.md).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace hafw::tools {

class PingGaps {
 public:
  using Nanos = std::chrono::nanoseconds;

  // Requests 0 .. n-1 went out.
  void set_sent(uint32_t n) {
    sent_ = n;
    answered_.assign(n, false);
  }

  // The reply to request `seq`, arriving at `at` (a steady clock; the origin
  // is the first request). Replies are given in the order they arrived.
  void reply(uint32_t seq, Nanos at) {
    if (seq >= sent_) {
      ++unexpected_;  // not one of ours: another program's, or forged
      return;
    }
    if (answered_[seq]) {
      ++duplicates_;
      return;
    }
    answered_[seq] = true;
    if (received_++ > 0 && at - last_ > gap_) {
      gap_ = at - last_;
      gap_from_ = last_;
    }
    last_ = at;
  }

  uint32_t sent() const { return sent_; }
  uint32_t received() const { return received_; }
  uint32_t duplicates() const { return duplicates_; }
  uint32_t unexpected() const { return unexpected_; }
  // The largest time between two consecutive replies, and when it began.
  Nanos gap() const { return gap_; }
  Nanos gap_from() const { return gap_from_; }

  // The longest run of requests without a reply, the ones at the end too: a
  // failover that never completes shows here, not in gap().
  uint32_t longest_loss() const {
    uint32_t run = 0, longest = 0;
    for (bool a : answered_) {
      run = a ? 0 : run + 1;
      longest = std::max(longest, run);
    }
    return longest;
  }

  std::string summary() const {
    char line[256];
    std::snprintf(line, sizeof line,
                  "sent=%u received=%u duplicates=%u gap_ms=%.3f gap_at_s=%.3f longest_loss=%u unexpected=%u", sent_,
                  received_, duplicates_, double(gap_.count()) / 1e6, double(gap_from_.count()) / 1e9, longest_loss(),
                  unexpected_);
    return line;
  }

 private:
  uint32_t sent_ = 0, received_ = 0, duplicates_ = 0, unexpected_ = 0;
  std::vector<bool> answered_;
  Nanos last_{0}, gap_{0}, gap_from_{0};
};

}  // namespace hafw::tools
