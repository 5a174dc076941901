// Tokenizer::from_hf on small hand-written tokenizer.json files: what each
// pipeline stage does, and the exact errors for malformed or unsupported files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tokenizer/tokenizer.h"

namespace lockstep {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

class HfTokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lockstep_hf_tokenizer_" + std::string(::testing::UnitTest::GetInstance()
                                                       ->current_test_info()
                                                       ->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  std::string write(const std::string& name, const nlohmann::json& doc) {
    return write(name, doc.dump());
  }
  // The error message from loading the folder, "" if it loads.
  std::string error_of(const nlohmann::json& doc) {
    write("tokenizer.json", doc);
    return error_of_folder();
  }
  std::string error_of_folder() {
    try {
      (void)Tokenizer::from_hf(dir_.string());
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input) << e.what();
      return e.what();
    }
    return "";
  }
  std::string json_path() const { return (dir_ / "tokenizer.json").string(); }
  std::string config_path() const { return (dir_ / "tokenizer_config.json").string(); }

  fs::path dir_;
};

// A byte-level BPE over the letters a, b, c and space ("Ġ"), with "a b" and
// "ab c" merges and two added tokens.
nlohmann::json byte_level_doc() {
  return nlohmann::json::parse(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 7, "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 8, "content": "<x>", "single_word": false, "lstrip": true, "rstrip": true,
       "normalized": false, "special": false}
    ],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": " ?[a-c]+|\\s+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [7], "tokens": ["<|end|>"]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
              "ignore_merges": false,
              "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6},
              "merges": [["a", "b"], ["ab", "c"], ["Ġ", "a"]]}
  })");
}

TEST_F(HfTokenizer, ByteLevelPipeline) {
  write("tokenizer.json", byte_level_doc());
  const Tokenizer t = Tokenizer::from_hf(dir_.string());
  EXPECT_EQ(t.vocab_size(), 9);
  // " ab": "a b" ranks before "Ġ a", so the space stays alone.
  EXPECT_EQ(t.encode("abc ab a"), (Ids{5, 3, 4, 6}));
  EXPECT_EQ(t.encode("abc<|end|>c"), (Ids{5, 7, 2}));
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.bos_id(), 7);
  EXPECT_EQ(t.with_special_tokens({5}), (Ids{7, 5}));
  EXPECT_EQ(t.decode({5, 7, 6}), "abc<|end|> a");
  EXPECT_EQ(t.pre_tokenizer(), "custom");
  EXPECT_EQ(t.token_type(7), TokenType::control);
  EXPECT_EQ(t.token_type(8), TokenType::user_defined);
}

TEST_F(HfTokenizer, StrippingAddedTokensSwallowWhitespace) {
  write("tokenizer.json", byte_level_doc());
  const Tokenizer t = Tokenizer::from_hf(json_path());
  EXPECT_EQ(t.encode("a  <x>  b"), (Ids{0, 8, 1}));
  EXPECT_EQ(t.encode("a  <x>  b", false), (Ids{0, 8, 1}));   // not special: matched anyway
}

}  // namespace
}  // namespace lockstep
