// The one reader of the harness's JSON files (proofs, session traces and scripts, suites, batch
// plans): every message names the file and the JSON path of the offending field,
// "<origin>: cases[2].id: <what>", as a bad_input error. Integers are range-checked before they
// are converted (nlohmann converts a float by static_cast, undefined out of range).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lockstep::harness {

class JsonReader {
 public:
  using json = nlohmann::ordered_json;

  // origin: the file, or what and the file ("suite suites/x.json").
  explicit JsonReader(std::string origin) : origin_(std::move(origin)) {}
  JsonReader(const std::string& what, const std::string& file) : origin_(what + " " + file) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw bad_input(origin_ + ": " + (where.empty() ? "" : where + ": ") + what);
  }

  static std::string join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }

  // Members of an object.
  const json& at(const json& in, const std::string& where, const char* key) const {
    if (!in.is_object()) fail(where, "expected an object");
    auto it = in.find(key);
    if (it == in.end()) fail(where, std::string("missing field '") + key + "'");
    return *it;
  }

  // A typed member: std::string, bool, int64_t, std::vector<int32_t> or std::vector<std::string>.
  template <typename T>
  T get(const json& in, const std::string& where, const char* key) const {
    const json& v = at(in, where, key);
    bool ok = true;
    if constexpr (std::is_same_v<T, std::string>) {
      ok = v.is_string();
    } else if constexpr (std::is_same_v<T, bool>) {
      ok = v.is_boolean();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      ok = in_range(v, INT64_MIN, INT64_MAX);
    } else if constexpr (std::is_same_v<T, std::vector<int32_t>>) {
      ok = v.is_array();
      for (const json& e : v) ok = ok && in_range(e, INT32_MIN, INT32_MAX);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      ok = v.is_array();
      for (const json& e : v) ok = ok && e.is_string();
    } else {
      static_assert(std::is_same_v<T, void>, "JsonReader::get: unsupported type");
    }
    if (!ok) fail(join(where, key), "wrong type");
    return v.get<T>();
  }

  // Keys of an object other than `allowed` are an error at "<where>.<key>".
  void only_keys(const json& object, const std::string& where, const std::set<std::string>& allowed) const {
    if (!object.is_object()) fail(where, "expected an object");
    for (const auto& item : object.items()) {
      if (allowed.count(item.key()) == 0) {
        std::string list;
        for (const auto& key : allowed) list += (list.empty() ? "" : ", ") + key;
        fail(join(where, item.key()), "unknown key (allowed: " + list + ")");
      }
    }
  }

  // Values.
  std::string string(const json& value, const std::string& where, bool non_empty) const {
    if (!value.is_string()) fail(where, "expected a string, got " + std::string(value.type_name()));
    std::string text = value.get<std::string>();
    if (non_empty && text.empty()) fail(where, "must not be empty");
    return text;
  }

  int64_t positive_int(const json& value, const std::string& where) const {
    if (!value.is_number_integer()) fail(where, "expected an integer, got " + std::string(value.type_name()));
    if (!in_range(value, 1, INT32_MAX)) {
      fail(where, "must be between 1 and " + std::to_string(INT32_MAX) + ", got " + value.dump());
    }
    return value.get<int64_t>();
  }

  bool boolean(const json& value, const std::string& where) const {
    if (!value.is_boolean()) fail(where, "expected true or false, got " + std::string(value.type_name()));
    return value.get<bool>();
  }

  // A finite number in [lo, hi].
  double number(const json& value, const std::string& where, double lo, double hi) const {
    if (!value.is_number()) fail(where, "expected a number, got " + std::string(value.type_name()));
    const double x = value.get<double>();
    if (!(x >= lo && x <= hi)) fail(where, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return x;
  }

  // A SHA-256 in lower-case hex.
  std::string sha(const json& in, const std::string& where, const char* key) const {
    std::string s = get<std::string>(in, where, key);
    check_sha(s, join(where, key));
    return s;
  }
  void check_sha(const std::string& s, const std::string& where) const {
    bool ok = s.size() == 64;
    for (char ch : s) ok = ok && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
    if (!ok) fail(where, "expected a SHA-256 in lower-case hex, got '" + s.substr(0, 80) + "'");
  }

  // An integer (not a float) within [lo, hi].
  static bool in_range(const json& v, int64_t lo, int64_t hi) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      return (lo <= 0 || u >= static_cast<uint64_t>(lo)) && u <= static_cast<uint64_t>(hi);
    }
    return v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  }

 private:
  std::string origin_;
};

// Reads and parses a JSON file, as bad_input: "<path>: no such <what>", "not a regular file",
// "larger than <max_mib> MiB; not a <what>", "cannot be read", "not valid JSON (<why>)<hint>".
inline nlohmann::ordered_json read_json_file(const std::string& path, const std::string& what, int64_t max_mib,
                                             const std::string& hint = "") {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw bad_input(path + ": no such " + what);
  if (!S_ISREG(info.st_mode)) throw bad_input(path + ": not a regular file");
  if (info.st_size > (max_mib << 20)) {
    throw bad_input(path + ": larger than " + std::to_string(max_mib) + " MiB; not a " + what);
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) throw bad_input(path + ": cannot be read");
  try {
    return nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw bad_input(path + ": not valid JSON (" + std::string(e.what()) + ")" + hint);
  }
}

}  // namespace lockstep::harness
