// Named enums: one table per counter family (dataplane drops, punts, CARP
// drops, ...) gives each enum value its stable name and a one-line meaning.
// The enum and its table sit side by side in one header; names in JSON,
// `hafwctl stats` and docs/counters.md all come from the table, and
// `in_enum_order` (checked by static_assert next to each table) keeps the two
// from drifting apart: adding a value without its row fails to compile.
#pragma once

#include <array>
#include <cstddef>

namespace hafw::net {

template <class E>
struct Named {
  E id;
  const char* name;  // stable: scripts and dashboards key on it
  const char* help;  // what it means to an operator
};

// True when row i describes enum value i and there is a row for every value
// below E::Count.
template <class E, size_t N>
constexpr bool in_enum_order(const std::array<Named<E>, N>& table) {
  if (N != size_t(E::Count)) return false;
  for (size_t i = 0; i < N; ++i)
    if (size_t(table[i].id) != i || table[i].name == nullptr || table[i].help == nullptr) return false;
  return true;
}

template <class E, size_t N>
constexpr const char* name_of(const std::array<Named<E>, N>& table, E e) {
  return size_t(e) < N ? table[size_t(e)].name : "unknown";
}

}  // namespace hafw::net
