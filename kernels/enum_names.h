// An enum's names as one table that both directions read: name_of for
// printing a value, value_of for parsing a name. A value missing from the
// table prints as the fallback, an unknown name parses to nullptr.
//
//   constexpr Named<Mode> kModes[] = {{Mode::off, "off"}, {Mode::portable, "portable"}};
//   mode_name(m) == name_of(kModes, m);
#pragma once

#include <cstddef>
#include <string_view>

namespace lockstep::kernels {

template <class E>
struct Named {
  E value;
  const char* name;
};

template <class E, size_t N>
constexpr const char* name_of(const Named<E> (&table)[N], E value, const char* fallback = "unknown") {
  for (const Named<E>& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return fallback;
}

// The value named `name`, or nullptr.
template <class E, size_t N>
constexpr const E* value_of(const Named<E> (&table)[N], std::string_view name) {
  for (const Named<E>& entry : table) {
    if (name == entry.name) return &entry.value;
  }
  return nullptr;
}

}  // namespace lockstep::kernels
