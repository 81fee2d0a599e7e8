#include "carp/types.h"

namespace hafw::carp {

const char* state_name(State s) {
  switch (s) {
    case State::Init: return "INIT";
    case State::Backup: return "BACKUP";
    case State::Master: return "MASTER";
  }
  return "?";
}

}  // namespace hafw::carp
