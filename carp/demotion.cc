#include "carp/demotion.h"

#include <algorithm>

namespace hafw::carp {

bool Demotion::set(const std::string& cause, int value) {
  const uint8_t before = total();
  auto it = std::find_if(causes_.begin(), causes_.end(), [&](const auto& c) { return c.first == cause; });
  if (value == 0) {
    if (it != causes_.end()) causes_.erase(it);
  } else if (it != causes_.end()) {
    it->second = value;
  } else {
    causes_.emplace_back(cause, value);
  }
  return total() != before;
}

int Demotion::get(const std::string& cause) const {
  for (const auto& [c, v] : causes_)
    if (c == cause) return v;
  return 0;
}

uint8_t Demotion::total() const {
  long sum = 0;
  for (const auto& [c, v] : causes_) sum += v;
  return uint8_t(std::clamp<long>(sum, 0, 255));
}

}  // namespace hafw::carp
