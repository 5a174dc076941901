// Tokenizer::from_hf on small hand-written tokenizer.json files: what each
// pipeline stage does, and the exact errors for malformed or unsupported files.
#include <gtest/gtest.h>

#include <cstdio>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
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

// A SentencePiece-style BPE: "▁" for spaces, <0xXX> byte fallback.
nlohmann::json sentencepiece_doc() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int32_t next = 259;
  for (const char* piece : {"\u2581", "a", "b", "\u2581a", "\u2581ab", "ab"}) vocab[piece] = next++;
  return {
      {"added_tokens", {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {
          {{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}}}}}}},
      {"decoder", {{"type", "Sequence"}, {"decoders", {
          {{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true},
                 {"byte_fallback", true}, {"vocab", vocab},
                 {"merges", {"\u2581 a", "a b", "\u2581a b"}}}},
  };
}

TEST_F(HfTokenizer, SentencePiecePipeline) {
  write("tokenizer.json", sentencepiece_doc());
  const Tokenizer t = Tokenizer::from_hf(dir_.string());
  const int32_t sp = 259, a = 260, b = 261, sp_a = 262, sp_ab = 263;
  // "▁ab▁b": merges by rank over the whole normalized text; "é" falls back to bytes.
  EXPECT_EQ(t.encode("ab b"), (Ids{sp_ab, sp, b}));
  EXPECT_EQ(t.encode("aé"), (Ids{sp_a, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.encode("a<s>a"), (Ids{sp_a, 1, sp_a}));   // every text piece gets its "▁"
  EXPECT_EQ(t.decode(t.encode("ab é a")), "ab é a");
  EXPECT_EQ(t.decode({1, sp_a}), "<s> a");
  EXPECT_EQ(t.decode_token(sp_a), " a");
  EXPECT_EQ(t.decode_token(3 + '\n'), "\n");
  EXPECT_EQ(t.token_type(3), TokenType::byte);
  EXPECT_EQ(t.token_type(0), TokenType::unknown);
  EXPECT_EQ(t.with_special_tokens({a}), (Ids{1, a}));
  EXPECT_EQ(t.pre_tokenizer(), "none");
}

TEST_F(HfTokenizer, UnknownCharactersFuseIntoOneUnk) {
  nlohmann::json doc = sentencepiece_doc();
  doc["model"]["byte_fallback"] = false;
  write("tokenizer.json", doc);
  const Tokenizer t = Tokenizer::from_hf(dir_.string());
  EXPECT_EQ(t.encode("aéé"), (Ids{262, 0}));
  doc["model"]["fuse_unk"] = false;
  write("tokenizer.json", doc);
  EXPECT_EQ(Tokenizer::from_hf(dir_.string()).encode("aéé"), (Ids{262, 0, 0}));
}

TEST_F(HfTokenizer, MetaspacePrependSchemes) {
  nlohmann::json doc = sentencepiece_doc();
  doc["normalizer"] = nullptr;
  doc["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"},
                          {"prepend_scheme", "first"}, {"split", false}};
  write("tokenizer.json", doc);
  Tokenizer t = Tokenizer::from_hf(dir_.string());
  EXPECT_EQ(t.encode("a<s>a"), (Ids{262, 1, 260}));   // only the text's start gets "▁"
  EXPECT_EQ(t.pre_tokenizer(), "metaspace");
  // The pre-0.19 spelling: add_prefix_space, no split (which then defaults to true).
  doc["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", true}};
  write("tokenizer.json", doc);
  t = Tokenizer::from_hf(dir_.string());
  EXPECT_EQ(t.encode("a<s>a"), (Ids{262, 1, 262}));
  EXPECT_EQ(t.encode("ab  ab"), (Ids{263, 259, 263}));   // split: "▁ab" "▁" "▁ab"
}

TEST_F(HfTokenizer, SplitBehaviors) {
  nlohmann::json doc = byte_level_doc();
  doc["added_tokens"] = nlohmann::json::array();
  doc["post_processor"] = nullptr;
  auto split = [&](const char* behavior, bool invert) {
    doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {
        {{"type", "Split"}, {"pattern", {{"String", "b"}}}, {"behavior", behavior}, {"invert", invert}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    write("tokenizer.json", doc);
    return Tokenizer::from_hf(dir_.string()).encode("abcabbc");
  };
  const int32_t a = 0, b = 1, c = 2, ab = 4, abc = 5;
  EXPECT_EQ(split("Isolated", false), (Ids{a, b, c, a, b, b, c}));
  EXPECT_EQ(split("Removed", false), (Ids{a, c, a, c}));
  EXPECT_EQ(split("MergedWithPrevious", false), (Ids{ab, c, ab, b, c}));
  EXPECT_EQ(split("MergedWithNext", false), (Ids{a, 1, 2, a, b, b, c}));
  EXPECT_EQ(split("Contiguous", false), (Ids{a, b, c, a, b, b, c}));
  EXPECT_EQ(split("Removed", true), (Ids{b, b, b}));
  (void)abc;
}

TEST_F(HfTokenizer, DigitsAndNfc) {
  nlohmann::json doc = byte_level_doc();
  doc["added_tokens"] = nlohmann::json::array();
  doc["normalizer"] = {{"type", "NFC"}};
  doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {
      {{"type", "Digits"}, {"individual_digits", true}},
      {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}}}};
  // The 256 byte tokens, id = byte, so any text encodes.
  nlohmann::json& vocab = doc["model"]["vocab"];
  vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[byte_level::encode(std::string(1, char(byte)))] = byte;
  doc["model"]["merges"] = nlohmann::json::array();
  write("tokenizer.json", doc);
  const Tokenizer t = Tokenizer::from_hf(dir_.string());
  EXPECT_EQ(t.pre_tokenizer(), "digits+gpt2");
  // Digits first, then ByteLevel's prefix space on every piece.
  EXPECT_EQ(t.encode("12"), (Ids{' ', '1', ' ', '2'}));
  EXPECT_EQ(t.encode("e\u0301"), (Ids{' ', 0xC3, 0xA9}));   // NFC composes "é"
}

TEST_F(HfTokenizer, SingleWordTokensNeedWordBoundaries) {
  nlohmann::json doc = sentencepiece_doc();
  doc["added_tokens"].push_back({{"id", 265}, {"content", "[T]"}, {"special", false},
                                 {"normalized", false}, {"single_word", true}});
  write("tokenizer.json", doc);
  const Tokenizer t = Tokenizer::from_hf(dir_.string());
  const auto byte = [](char c) { return 3 + static_cast<uint8_t>(c); };
  EXPECT_EQ(t.encode("b [T]"), (Ids{259, 261, 259, 265}));
  EXPECT_EQ(t.encode("b[T]"), (Ids{259, 261, byte('['), byte('T'), byte(']')}));
  EXPECT_EQ(t.encode("_[T]"), (Ids{259, byte('_'), byte('['), byte('T'), byte(']')}));  // "_" is a word character
  EXPECT_EQ(t.encode("-[T]-"), (Ids{259, byte('-'), 265, 259, byte('-')}));
}

TEST_F(HfTokenizer, ConfigAndChatTemplate) {
  write("tokenizer.json", sentencepiece_doc());
  write("tokenizer_config.json", nlohmann::json{{"add_bos_token", false}, {"add_eos_token", true},
                                                {"bos_token", {{"content", "<s>"}}},
                                                {"eos_token", "</s>"},
                                                {"chat_template", "{{ bos_token }}[INST]"}});
  Tokenizer t = Tokenizer::from_hf(dir_.string());
  EXPECT_FALSE(t.add_bos());
  EXPECT_TRUE(t.add_eos());
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.with_special_tokens({260}), (Ids{260, 2}));
  EXPECT_EQ(t.chat_template(), "{{ bos_token }}[INST]");
  write("chat_template.jinja", std::string("from the jinja file"));
  t = Tokenizer::from_hf(json_path());
  EXPECT_EQ(t.chat_template(), "from the jinja file");
}

// ------------------------------------------------------------------ errors

TEST_F(HfTokenizer, MissingFileIsAnEnvironmentError) {
  try {
    (void)Tokenizer::from_hf(dir_.string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::environment);
    EXPECT_EQ(std::string(e.what()), json_path() + ": cannot read the file");
  }
}

TEST_F(HfTokenizer, MalformedJson) {
  write("tokenizer.json", std::string("{\"model\": "));
  EXPECT_EQ(error_of_folder(),
            json_path() + ": invalid JSON: parse error at line 1, column 11: syntax error while "
                          "parsing value - unexpected end of input; expected '[', '{', or a literal");
  write("tokenizer.json", byte_level_doc());
  write("tokenizer_config.json", std::string("[1, 2"));
  EXPECT_EQ(error_of_folder(),
            config_path() + ": invalid JSON: parse error at line 1, column 6: syntax error while "
                            "parsing array - unexpected end of input; expected ']'");
}

TEST_F(HfTokenizer, WrongTypes) {
  const std::string f = json_path() + ": ";
  nlohmann::json doc = byte_level_doc();
  doc["model"]["vocab"] = nlohmann::json::array();
  EXPECT_EQ(error_of(doc), f + "model.vocab: expected an object, got an array");
  doc = byte_level_doc();
  doc["model"]["vocab"]["a"] = "0";
  EXPECT_EQ(error_of(doc), f + "model.vocab[\"a\"]: expected an integer, got a string");
  doc = byte_level_doc();
  doc["model"]["merges"][1] = 5;
  EXPECT_EQ(error_of(doc), f + "model.merges[1]: expected a string \"a b\" or an array of two strings");
  doc["model"]["merges"][1] = "a  b";
  EXPECT_EQ(error_of(doc), f + "model.merges[1]: expected two tokens separated by one space, got \"a  b\"");
  doc = byte_level_doc();
  doc["added_tokens"][0]["special"] = "yes";
  EXPECT_EQ(error_of(doc), f + "added_tokens[0].special: expected a boolean, got a string");
  doc = byte_level_doc();
  doc["model"]["byte_fallback"] = 1;
  EXPECT_EQ(error_of(doc), f + "model.byte_fallback: expected a boolean, got an integer");
  EXPECT_EQ(error_of(nlohmann::json::array()), f + "(top level): expected an object, got an array");
}

TEST_F(HfTokenizer, UnsupportedModelTypes) {
  const std::string f = json_path() + ": ";
  for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
    nlohmann::json doc = byte_level_doc();
    doc["model"]["type"] = type;
    EXPECT_EQ(error_of(doc), f + "model.type: \"" + type +
                                 "\" is not supported; lockstep runs BPE tokenizers only "
                                 "(byte-level or SentencePiece-style)");
  }
}

TEST_F(HfTokenizer, MissingOrBadMerges) {
  const std::string f = json_path() + ": ";
  nlohmann::json doc = byte_level_doc();
  doc["model"].erase("merges");
  EXPECT_EQ(error_of(doc), f + "model.merges: missing");
  doc = byte_level_doc();
  doc["model"]["merges"].push_back({"c", "zz"});
  EXPECT_EQ(error_of(doc), f + "model.merges[3]: \"zz\" is not in model.vocab");
  doc = byte_level_doc();
  doc["model"]["merges"].push_back({"c", "c"});
  EXPECT_EQ(error_of(doc), f + "model.merges[3]: \"cc\" is not in model.vocab");
  doc = byte_level_doc();
  doc.erase("model");
  EXPECT_EQ(error_of(doc), f + "model: missing");
}

// An id near 2^31 in a file of a few hundred bytes is refused by looking at
// the ids, before tables of 2^31 entries are allocated (the fuzz limit of
// ci/fuzz.sh is 2 GiB of RSS; this allocation would be ~100 GiB).
TEST_F(HfTokenizer, HugeTokenIdIsRefusedBeforeAllocating) {
  const std::string f = json_path() + ": ";
  nlohmann::json doc = byte_level_doc();
  doc["model"]["vocab"]["far"] = 2147483646;
  EXPECT_EQ(error_of(doc), f + "model.vocab: no token has id 9 (ids must be 0..2147483646 without gaps)");
  doc = byte_level_doc();
  doc["added_tokens"] = {{{"id", 2000000000}, {"content", "<x>"}, {"special", true}}};
  EXPECT_EQ(error_of(doc), f + "model.vocab: no token has id 7 (ids must be 0..2000000000 without gaps)");
}

TEST_F(HfTokenizer, FromJsonTextIsTheSameParseWithoutTheConfig) {
  const nlohmann::json doc = byte_level_doc();
  write("tokenizer.json", doc);
  const Tokenizer from_file = Tokenizer::from_hf(json_path());
  const Tokenizer from_text = Tokenizer::from_hf_json(doc.dump(), "mem.json");
  EXPECT_EQ(from_text.vocab_size(), from_file.vocab_size());
  EXPECT_EQ(from_text.encode("abcabbc"), from_file.encode("abcabbc"));
  // The second found by fuzz/tokenizer_fuzz.cpp: a number beyond double
  // range is nlohmann's out_of_range, which escaped as an uncaught exception.
  for (const char* text : {"{\"model\": ", "{\"model\": 8E88888}"}) {
    SCOPED_TRACE(text);
    try {
      (void)Tokenizer::from_hf_json(text, "mem.json");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input);
      EXPECT_EQ(std::string(e.what()).rfind("mem.json: invalid JSON", 0), 0u) << e.what();
    }
  }
}

TEST_F(HfTokenizer, OtherInvalidModels) {
  const std::string f = json_path() + ": ";
  nlohmann::json doc = byte_level_doc();
  doc["model"]["vocab"].erase("Ġ");
  EXPECT_EQ(error_of(doc), f + "model.vocab: no token has id 3 (ids must be 0..8 without gaps)");
  doc = byte_level_doc();
  doc["model"]["vocab"]["dup"] = 4;
  EXPECT_EQ(error_of(doc), f + "model.vocab: tokens \"ab\" and \"dup\" share id 4");
  doc = byte_level_doc();
  doc["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(error_of(doc), f + "model.unk_token: \"<unk>\" is not in model.vocab");
  doc = byte_level_doc();
  doc["model"]["dropout"] = 0.1;
  EXPECT_EQ(error_of(doc), f + "model.dropout: BPE dropout is not supported (it makes tokenization random)");
  doc = byte_level_doc();
  doc["model"]["continuing_subword_prefix"] = "##";
  EXPECT_EQ(error_of(doc), f + "model.continuing_subword_prefix: is not supported");
  doc = byte_level_doc();
  doc["model"]["vocab"]["x"] = -1;
  EXPECT_EQ(error_of(doc), f + "model.vocab[\"x\"]: token id -1 is out of range");
}

TEST_F(HfTokenizer, UnsupportedPipelineStages) {
  const std::string f = json_path() + ": ";
  nlohmann::json doc = byte_level_doc();
  doc["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_EQ(error_of(doc), f + "normalizer.type: \"Lowercase\" is not supported (lockstep knows "
                               "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD)");
  doc = byte_level_doc();
  doc["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Whitespace"}};
  EXPECT_EQ(error_of(doc), f + "pre_tokenizer.pretokenizers[0].type: \"Whitespace\" is not "
                               "supported (lockstep knows Sequence, Split, ByteLevel, Metaspace, Digits)");
  doc = byte_level_doc();
  doc["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  EXPECT_EQ(error_of(doc), f + "pre_tokenizer.pretokenizers[0].behavior: \"Sideways\" is not one of "
                               "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
  doc = byte_level_doc();
  doc["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(unclosed"}};
  EXPECT_EQ(error_of(doc), "pre-tokenizer regex does not compile at offset 9: missing closing parenthesis");
  doc = byte_level_doc();
  std::swap(doc["pre_tokenizer"]["pretokenizers"][0], doc["pre_tokenizer"]["pretokenizers"][1]);
  EXPECT_EQ(error_of(doc), f + "pre_tokenizer.pretokenizers[1]: a Split step after ByteLevel is not "
                               "supported (ByteLevel must come last)");
  doc = byte_level_doc();
  doc["decoder"] = {{"type", "WordPiece"}};
  EXPECT_EQ(error_of(doc), f + "decoder.type: \"WordPiece\" is not supported (lockstep knows "
                               "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)");
  doc = byte_level_doc();
  doc["post_processor"] = {{"type", "RobertaProcessing"}};
  EXPECT_EQ(error_of(doc), f + "post_processor.type: \"RobertaProcessing\" is not supported "
                               "(lockstep knows TemplateProcessing, ByteLevel, Sequence)");
  doc = byte_level_doc();
  doc["post_processor"]["special_tokens"].erase("<|end|>");
  EXPECT_EQ(error_of(doc), f + "post_processor.special_tokens.<|end|>: missing");
}

TEST_F(HfTokenizer, InvalidConfig) {
  write("tokenizer.json", byte_level_doc());
  write("tokenizer_config.json", nlohmann::json{{"bos_token", "<nope>"}});
  EXPECT_EQ(error_of_folder(), config_path() + ": bos_token: \"<nope>\" is not in the vocabulary");
  write("tokenizer_config.json", nlohmann::json{{"add_bos_token", "true"}});
  EXPECT_EQ(error_of_folder(), config_path() + ": add_bos_token: expected a boolean, got a string");
  write("tokenizer_config.json", nlohmann::json{{"eos_token", 5}});
  EXPECT_EQ(error_of_folder(), config_path() + ": eos_token: expected a string or an object with \"content\"");
  write("tokenizer_config.json", nlohmann::json{{"add_eos_token", true}});
  EXPECT_EQ(error_of_folder(), config_path() + ": add_eos_token is true but no eos_token is given");
}

TEST_F(HfTokenizer, BytesWithoutATokenAreBadInput) {
  write("tokenizer.json", byte_level_doc());
  const Tokenizer t = Tokenizer::from_hf(dir_.string());
  try {
    (void)t.encode("abz");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot tokenize byte 0x7a: the vocabulary has no token for it");
  }
}

}  // namespace
}  // namespace lockstep
