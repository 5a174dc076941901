// A small driver for test_tokenizer_reference.py: loads a tokenizer and runs
// it over a JSON array of strings, so the Python test can compare against
// Hugging Face tokenizers without building the full lockstep CLI (libtorch).
//
//   tokenize_tool TOKENIZER INPUT.json [--no-special]
//   tokenize_tool TOKENIZER --chat CONVERSATIONS.json
//
// TOKENIZER is a tokenizer.json, a folder holding one, or a .gguf file.
// Output (stdout, JSON): the tokenizer's metadata under "tokenizer", and under
// "results" per string {"ids": [...], "with_special": [...], "decoded_hex":
// "..."}, or per conversation [with, without generation prompt] for --chat;
// {"error": "..."} where lockstep refuses one.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "core/weights/gguf.h"

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

std::string hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 15]);
  }
  return out;
}

lockstep::Tokenizer load(const std::string& path) {
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    return lockstep::Tokenizer::from_gguf(lockstep::gguf::File::open(path));
  }
  return lockstep::Tokenizer::from_hf(path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: tokenize_tool TOKENIZER INPUT.json [--no-special] | --chat CONVERSATIONS.json\n";
    return 2;
  }
  try {
    const lockstep::Tokenizer tokenizer = load(argv[1]);
    nlohmann::json out;
    out["tokenizer"] = {{"vocab_size", tokenizer.vocab_size()}, {"bos_id", tokenizer.bos_id()},
                        {"eos_id", tokenizer.eos_id()},       {"add_bos", tokenizer.add_bos()},
                        {"add_eos", tokenizer.add_eos()},     {"pre", tokenizer.pre_tokenizer()}};
    if (std::string(argv[2]) == "--chat") {
      const lockstep::ChatTemplate chat = lockstep::ChatTemplate::for_tokenizer(tokenizer);
      out["family"] = chat.family();
      out["results"] = nlohmann::json::array();
      for (const nlohmann::json& conversation : read_json(argv[3])) {
        std::vector<lockstep::ChatMessage> messages;
        for (const nlohmann::json& m : conversation) messages.push_back({m["role"], m["content"]});
        try {
          out["results"].push_back({chat.render(messages, true), chat.render(messages, false)});
        } catch (const lockstep::Error& e) {
          out["results"].push_back({{"error", e.what()}});
        }
      }
    } else {
      const bool parse_special = !(argc > 3 && std::string(argv[3]) == "--no-special");
      out["results"] = nlohmann::json::array();
      for (const nlohmann::json& text : read_json(argv[2])) {
        try {
          const std::vector<int32_t> ids = tokenizer.encode(text.get<std::string>(), parse_special);
          const std::string decoded = tokenizer.decode(ids);
          out["results"].push_back({{"ids", ids},
                                    {"with_special", tokenizer.with_special_tokens(ids)},
                                    {"decoded_hex", hex(decoded)}});
        } catch (const lockstep::Error& e) {
          out["results"].push_back({{"error", e.what()}});
        }
      }
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  } catch (const lockstep::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
