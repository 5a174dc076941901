// Validation of JSON input files (suites, batch plans): every message names
// the file and the JSON path of the offending field ("cases[2].id").
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lockstep::harness {

// Validation helpers carry the JSON path of what they check ("cases[2].id")
// so every message points at the exact field.
class JsonChecker {
 public:
  JsonChecker(std::string what, std::string origin) : what_(std::move(what)), origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw bad_input(what_ + " " + origin_ + ": " + (where.empty() ? "" : where + ": ") + what);
  }

  void only_keys(const nlohmann::ordered_json& object, const std::string& where,
                 const std::set<std::string>& allowed) const {
    for (const auto& item : object.items()) {
      if (allowed.count(item.key()) == 0) {
        std::string list;
        for (const auto& key : allowed) list += (list.empty() ? "" : ", ") + key;
        fail(join(where, item.key()), "unknown key (allowed: " + list + ")");
      }
    }
  }

  const nlohmann::ordered_json& require(const nlohmann::ordered_json& object, const std::string& where, const std::string& key) const {
    auto it = object.find(key);
    if (it == object.end()) fail(where, "missing required key '" + key + "'");
    return *it;
  }

  std::string string(const nlohmann::ordered_json& value, const std::string& where, bool non_empty) const {
    if (!value.is_string()) fail(where, "expected a string, got " + std::string(value.type_name()));
    std::string text = value.get<std::string>();
    if (non_empty && text.empty()) fail(where, "must not be empty");
    return text;
  }

  int64_t positive_int(const nlohmann::ordered_json& value, const std::string& where) const {
    if (!value.is_number_integer()) {
      fail(where, "expected an integer, got " + std::string(value.type_name()));
    }
    constexpr uint64_t kMax = INT32_MAX;
    const bool in_range = value.is_number_unsigned()
                              ? value.get<uint64_t>() >= 1 && value.get<uint64_t>() <= kMax
                              : value.get<int64_t>() >= 1 && value.get<int64_t>() <= int64_t{INT32_MAX};
    if (!in_range) fail(where, "must be between 1 and " + std::to_string(kMax) + ", got " + value.dump());
    return value.get<int64_t>();
  }

  bool boolean(const nlohmann::ordered_json& value, const std::string& where) const {
    if (!value.is_boolean()) fail(where, "expected true or false, got " + std::string(value.type_name()));
    return value.get<bool>();
  }

  // A finite number in [lo, hi].
  double number(const nlohmann::ordered_json& value, const std::string& where, double lo, double hi) const {
    if (!value.is_number()) fail(where, "expected a number, got " + std::string(value.type_name()));
    const double x = value.get<double>();
    if (!(x >= lo && x <= hi)) fail(where, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return x;
  }

  static std::string join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }

 private:
  std::string what_;
  std::string origin_;
};


}  // namespace lockstep::harness
