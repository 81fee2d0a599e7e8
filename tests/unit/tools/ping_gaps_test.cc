// The failover benchmark's figure (tools/bench/ping_gaps.h): the largest
// time between replies and the longest run of unanswered requests.
#include "tools/bench/ping_gaps.h"

#include <catch2/catch.hpp>

using hafw::tools::PingGaps;
using std::chrono::milliseconds;

namespace {

// Replies to every request of [from, to) at 1 ms per request, plus `delay`.
void answer(PingGaps& g, uint32_t from, uint32_t to, milliseconds delay = milliseconds(0)) {
  for (uint32_t s = from; s < to; ++s) g.reply(s, milliseconds(s) + delay);
}

}  // namespace

TEST_CASE("an outage is the largest time between two replies, and when it began") {
  PingGaps g;
  g.set_sent(100);
  answer(g, 0, 40);
  answer(g, 53, 100);  // 13 requests lost
  CHECK(g.received() == 87);
  CHECK(g.gap() == milliseconds(14));
  CHECK(g.gap_from() == milliseconds(39));
  CHECK(g.longest_loss() == 13);
  CHECK(g.summary() == "sent=100 received=87 duplicates=0 gap_ms=14.000 gap_at_s=0.039 longest_loss=13 unexpected=0");
}

TEST_CASE("replies delayed but none lost still show as a gap") {
  PingGaps g;
  g.set_sent(10);
  answer(g, 0, 5);
  answer(g, 5, 10, milliseconds(20));  // a queue somewhere held them
  CHECK(g.gap() == milliseconds(21));
  CHECK(g.longest_loss() == 0);
}

TEST_CASE("traffic that never comes back is a loss to the end, not a gap") {
  PingGaps g;
  g.set_sent(50);
  answer(g, 0, 10);
  CHECK(g.gap() == milliseconds(1));
  CHECK(g.longest_loss() == 40);
}

TEST_CASE("duplicates and replies to requests never sent are counted, not taken") {
  PingGaps g;
  g.set_sent(3);
  g.reply(0, milliseconds(0));
  g.reply(0, milliseconds(30));  // a duplicate late: no gap
  g.reply(7, milliseconds(40));  // not ours
  g.reply(1, milliseconds(1));
  g.reply(2, milliseconds(2));
  CHECK(g.received() == 3);
  CHECK(g.duplicates() == 1);
  CHECK(g.unexpected() == 1);
  CHECK(g.gap() == milliseconds(1));
}
