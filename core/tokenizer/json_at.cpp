#include "core/tokenizer/json_at.h"

#include "core/error.h"

namespace lockstep {
namespace {

std::string type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

}  // namespace

void JsonAt::fail(const std::string& what) const {
  throw bad_input(*file_ + ": " + (path_.empty() ? "(top level)" : path_) + ": " + what);
}

JsonAt JsonAt::operator[](const char* key) const {
  std::optional<JsonAt> member = find(key);
  if (!member) {
    const std::string where = path_.empty() ? key : path_ + "." + key;
    JsonAt(*value_, *file_, where).fail("missing");
  }
  return *member;
}

std::optional<JsonAt> JsonAt::find(const char* key) const {
  (void)object();
  const auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return JsonAt(*it, *file_, path_.empty() ? key : path_ + "." + key);
}

JsonAt JsonAt::at(size_t index) const {
  if (index >= array_size()) fail("index " + std::to_string(index) + " is out of range");
  return JsonAt((*value_)[index], *file_, path_ + "[" + std::to_string(index) + "]");
}

const std::string& JsonAt::str() const {
  if (!value_->is_string()) fail("expected a string, got " + type_name(*value_));
  return value_->get_ref<const std::string&>();
}

bool JsonAt::boolean() const {
  if (!value_->is_boolean()) fail("expected a boolean, got " + type_name(*value_));
  return value_->get<bool>();
}

int64_t JsonAt::integer() const {
  if (!value_->is_number_integer()) fail("expected an integer, got " + type_name(*value_));
  return value_->get<int64_t>();
}

size_t JsonAt::array_size() const {
  if (!value_->is_array()) fail("expected an array, got " + type_name(*value_));
  return value_->size();
}

const nlohmann::json& JsonAt::object() const {
  if (!value_->is_object()) fail("expected an object, got " + type_name(*value_));
  return *value_;
}

std::string JsonAt::str_or(const char* key, const std::string& fallback) const {
  const std::optional<JsonAt> member = find(key);
  return member ? member->str() : fallback;
}

bool JsonAt::bool_or(const char* key, bool fallback) const {
  const std::optional<JsonAt> member = find(key);
  return member ? member->boolean() : fallback;
}

nlohmann::json parse_json(const std::string& text, const std::string& file) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range for 1e999
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    std::string message = e.what();
    const size_t at = message.find("] ");
    if (at != std::string::npos) message = message.substr(at + 2);
    throw bad_input(file + ": invalid JSON: " + message);
  }
}

}  // namespace lockstep
