// The expected values of the tokenizer and chat-template tests, as data: expected/*.json, written
// by make_expected_ids.py from transformers (the reference), read once per test binary.
#pragma once

#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace lockstep::testing {

inline const nlohmann::json& expected(const std::string& file) {
  static std::map<std::string, nlohmann::json> loaded;
  auto it = loaded.find(file);
  if (it == loaded.end()) {
    const std::string path = std::string(LOCKSTEP_SOURCE_DIR) + "/tests/core/tokenizer/expected/" + file;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path + " (tests/core/tokenizer/make_expected_ids.py writes it)");
    it = loaded.emplace(file, nlohmann::json::parse(in)).first;
  }
  return it->second;
}

}  // namespace lockstep::testing
