// A JSON value together with where it was read from, so every validation
// error names the file and the JSON path: "tokenizer.json: model.merges[3]:
// expected a string or an array of two strings".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace lockstep {

class JsonAt {
 public:
  JsonAt(const nlohmann::json& value, const std::string& file, std::string path)
      : value_(&value), file_(&file), path_(std::move(path)) {}

  // bad_input "<file>: <path>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

  // A member that must be there (and not null).
  JsonAt operator[](const char* key) const;
  // A member that may be absent or null.
  std::optional<JsonAt> find(const char* key) const;
  JsonAt at(size_t index) const;   // of an array

  bool is_null() const { return value_->is_null(); }
  bool is_string() const { return value_->is_string(); }
  bool is_array() const { return value_->is_array(); }
  bool is_object() const { return value_->is_object(); }

  // Each checks the type first.
  const std::string& str() const;
  bool boolean() const;
  int64_t integer() const;
  size_t array_size() const;
  const nlohmann::json& object() const;

  // Optional members with a default when absent or null.
  std::string str_or(const char* key, const std::string& fallback) const;
  bool bool_or(const char* key, bool fallback) const;

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }

 private:
  const nlohmann::json* value_;
  const std::string* file_;
  std::string path_;
};

// Parses `text` read from `file`; bad_input naming the file on malformed JSON.
nlohmann::json parse_json(const std::string& text, const std::string& file);

}  // namespace lockstep
