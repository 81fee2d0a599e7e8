// Time as every part of hafw sees it: monotonic nanoseconds from an injected
// clock. The control thread reads a Clock (control/clock.h); CARP, the
// neighbour manager and the workers are handed `now` as a Time, so every
// timer is tested with a manual clock and never with sleeps.
#pragma once

#include <chrono>

namespace hafw {

using Time = std::chrono::nanoseconds;  // monotonic, arbitrary epoch
constexpr Time kNever = Time::max();    // the deadline of a timer that is not armed

}  // namespace hafw
