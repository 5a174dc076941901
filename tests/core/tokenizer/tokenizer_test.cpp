#include "core/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/weights/gguf.h"
#include "tests/core/expect_error.h"
#include "tests/core/tokenizer/expected.h"

namespace lockstep {
namespace {

struct IdsCase {
  std::string text;
  std::vector<int32_t> ids;
};

struct PiecesCase {
  std::string pre;
  std::string text;
  std::vector<std::string> pieces;
};

// expected/tokenizer.json: transformers' ids for tricky strings on the real model (with special
// tokens parsed, and as plain text), and Hugging Face tokenizers' pre-tokenizer pieces.
std::vector<IdsCase> ids_cases(const char* key) {
  std::vector<IdsCase> out;
  for (const auto& c : testing::expected("tokenizer.json").at(key)) {
    out.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>()});
  }
  return out;
}
const std::vector<IdsCase>& expected_ids() {
  static const std::vector<IdsCase> cases = ids_cases("ids");
  return cases;
}
const std::vector<IdsCase>& expected_plain_ids() {
  static const std::vector<IdsCase> cases = ids_cases("plain_ids");
  return cases;
}
const std::vector<PiecesCase>& expected_pieces() {
  static const std::vector<PiecesCase> cases = [] {
    std::vector<PiecesCase> out;
    for (const auto& c : testing::expected("tokenizer.json").at("pieces")) {
      out.push_back({c.at("pretokenizer").get<std::string>(), c.at("text").get<std::string>(),
                     c.at("pieces").get<std::vector<std::string>>()});
    }
    return out;
  }();
  return cases;
}

using testing::expect_bad_input;

// ---------------------------------------------------------------- byte level

std::string cp(uint32_t c) {
  std::string s;
  utf8::append(s, c);
  return s;
}

TEST(ByteLevel, SpellsBytesLikeGpt2) {
  EXPECT_EQ(byte_level::encode(" "), cp(0x120));    // "Ġ"
  EXPECT_EQ(byte_level::encode("\n"), cp(0x10A));   // "Ċ"
  EXPECT_EQ(byte_level::encode("Az~!"), "Az~!");
  EXPECT_EQ(byte_level::encode("\xAD"), cp(0x143));   // soft hyphen is not printable
  EXPECT_EQ(byte_level::encode("\xFF"), cp(0xFF));
  EXPECT_EQ(byte_level::encode("é"), cp(0xC3) + cp(0xA9));
}

TEST(ByteLevel, EveryByteRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string spelled = byte_level::encode(all);
  EXPECT_TRUE(byte_level::is_spelled(spelled));
  EXPECT_EQ(byte_level::decode(spelled), all);
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(byte_level::codepoint_to_byte(byte_level::byte_to_codepoint(static_cast<uint8_t>(b))),
              b);
  }
}

TEST(ByteLevel, RejectsTextOutsideTheAlphabet) {
  EXPECT_FALSE(byte_level::decode("euro €").has_value());   // space and € are not spelled
  EXPECT_FALSE(byte_level::decode("\xC3").has_value());     // malformed UTF-8
  EXPECT_EQ(byte_level::codepoint_to_byte(' '), -1);
  EXPECT_EQ(byte_level::codepoint_to_byte(0x1F600), -1);
}

TEST(Utf8, DecodesAndRejectsMalformedSequences) {
  uint32_t c = 0;
  size_t pos = 0;
  const std::string text = "aé€😀";
  std::vector<uint32_t> cps;
  while (utf8::next(text, pos, c)) cps.push_back(c);
  EXPECT_EQ(cps, (std::vector<uint32_t>{'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(pos, text.size());
  for (const std::string bad : {"\xC3", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80",
                                "\xE2\x82"}) {
    pos = 0;
    EXPECT_FALSE(utf8::next(bad, pos, c)) << bad.size();
    EXPECT_EQ(pos, 0u);
  }
  for (const uint32_t v : {0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    const std::string s = cp(v);
    pos = 0;
    ASSERT_TRUE(utf8::next(s, pos, c));
    EXPECT_EQ(c, v);
    EXPECT_EQ(utf8::sequence_length(static_cast<uint8_t>(s[0])), s.size());
  }
}

// ------------------------------------------------------------ pre-tokenizers

std::vector<std::string> pieces(const std::string& pre, const std::string& text) {
  std::vector<std::string> out;
  for (const std::string_view p : PreTokenizer::for_name(pre).split(text)) out.emplace_back(p);
  return out;
}

using Pieces = std::vector<std::string>;

// Expected pieces are what Hugging Face tokenizers' Split(regex, "isolated") gives.
TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(pieces("gpt2", "Hello world's  end\n\n 123abc I'M"),
            (Pieces{"Hello", " world", "'s", " ", " end", "\n\n", " 123", "abc", " I", "'", "M"}));
  // Whitespace before a word joins it only as one space; the rest stays
  // apart (\s+(?!\S) backs off one character), trailing whitespace is one piece.
  EXPECT_EQ(pieces("gpt2", "a   b\t\tc  "), (Pieces{"a", "  ", " b", "\t", "\t", "c", "  "}));
  EXPECT_EQ(pieces("gpt2", "x**2+ (y)!?"), (Pieces{"x", "**", "2", "+", " (", "y", ")!?"}));
  EXPECT_EQ(pieces("gpt2", "héllo 😀😀 日本"), (Pieces{"héllo", " 😀😀", " 日本"}));
  EXPECT_EQ(pieces("default", "it's"), pieces("gpt2", "it's"));
  EXPECT_TRUE(pieces("gpt2", "").empty());
}

TEST(PreTokenizer, SmollmIsGpt2AsTransformersLoadsIt) {
  EXPECT_EQ(pieces("smollm", " 12345 x²"), (Pieces{" 12345", " x", "²"}));
  EXPECT_EQ(pieces("smollm", " ²"), (Pieces{" ²"}));
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(pieces("llama-bpe", "I'M 1234567 don'T"),
            (Pieces{"I", "'M", " ", "123", "456", "7", " don", "'T"}));
  EXPECT_EQ(pieces("llama3", "x!!\n\ny\r\n\r\n  z  "),
            (Pieces{"x", "!!\n\n", "y", "\r\n\r\n", " ", " z", "  "}));
  EXPECT_EQ(pieces("llama3", "$hello (world"), (Pieces{"$hello", " (", "world"}));
}

TEST(PreTokenizer, Qwen2) {
  EXPECT_EQ(pieces("qwen2", "I'M 2024 ok"), (Pieces{"I", "'M", " ", "2", "0", "2", "4", " ok"}));
  EXPECT_EQ(pieces("qwen2", "a\n\n\tb"), (Pieces{"a", "\n\n", "\tb"}));
  EXPECT_EQ(pieces("qwen2", "你好，世界"), (Pieces{"你好", "，世界"}));
}

TEST(PreTokenizer, EveryFamilyMatchesHuggingFace) {
  std::set<std::string> covered;
  for (const PiecesCase& c : expected_pieces()) {
    EXPECT_EQ(pieces(c.pre, c.text), c.pieces) << c.pre << ": " << c.text;
    covered.insert(c.pre);
  }
  for (const std::string& name : PreTokenizer::supported_names()) {
    EXPECT_EQ(covered.count(name), 1u) << name << " has no expected pieces";
  }
}

TEST(PreTokenizer, PiecesAlwaysCoverTheText) {
  const std::string spaces(100000, ' ');
  const std::vector<std::string> texts = {
      "a\xFF\xFE b \xC3 é\x80", spaces + "x", "x" + spaces, "\xF0\x9F\x98", std::string(50000, '7'),
      "mixed \t\r\n\v\f\u00a0\u3000 spaces"};
  for (const std::string& pre : PreTokenizer::supported_names()) {
    for (const std::string& text : texts) {
      std::string joined;
      for (const std::string& p : pieces(pre, text)) {
        EXPECT_FALSE(p.empty());
        joined += p;
      }
      EXPECT_EQ(joined, text) << pre;
    }
  }
}

TEST(PreTokenizer, UnknownNameIsBadInput) {
  expect_bad_input([] { PreTokenizer::for_name("mystery-bpe"); }, "mystery-bpe");
}

// ---------------------------------------------------------- synthetic vocab

// 256 byte tokens in byte order, then one token per merge result and the
// extra (special) tokens.
TokenizerVocab make_vocab(const std::vector<std::string>& merges,
                          const std::vector<std::pair<std::string, TokenType>>& extra = {}) {
  TokenizerVocab v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_level::encode(std::string(1, char(b))));
  for (const std::string& m : merges) {
    const size_t space = m.find(' ');
    v.tokens.push_back(m.substr(0, space) + m.substr(space + 1));
  }
  v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::normal));
  for (const auto& [text, type] : extra) {
    v.tokens.push_back(text);
    v.token_types.push_back(static_cast<int32_t>(type));
  }
  v.merges = merges;
  return v;
}

std::vector<int32_t> ids_of(const Tokenizer& t, const std::vector<std::string>& tokens) {
  std::vector<int32_t> ids;
  for (const std::string& s : tokens) {
    const std::optional<int32_t> id = t.token_id(s);
    EXPECT_TRUE(id.has_value()) << s;
    ids.push_back(id.value_or(-1));
  }
  return ids;
}

TEST(Bpe, LowerRankMergesFirst) {
  const Tokenizer ow_first = Tokenizer::from_vocab(make_vocab({"o w", "l o", "lo w"}));
  EXPECT_EQ(ow_first.encode("low"), ids_of(ow_first, {"l", "ow"}));
  const Tokenizer lo_first = Tokenizer::from_vocab(make_vocab({"l o", "o w", "lo w"}));
  EXPECT_EQ(lo_first.encode("low"), ids_of(lo_first, {"low"}));
  EXPECT_EQ(lo_first.encode("lowow"), ids_of(lo_first, {"low", "ow"}));
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  const Tokenizer t = Tokenizer::from_vocab(make_vocab({"a a"}));
  EXPECT_EQ(t.encode("aaa"), ids_of(t, {"aa", "a"}));
  EXPECT_EQ(t.encode("aaaa"), ids_of(t, {"aa", "aa"}));
  const Tokenizer t2 = Tokenizer::from_vocab(make_vocab({"a a", "aa aa"}));
  EXPECT_EQ(t2.encode("aaaaa"), ids_of(t2, {"aaaa", "a"}));
}

TEST(Bpe, MergesStayInsidePreTokenizerPieces) {
  // "Ġ" is the spelled space; " w" becomes one piece, "o w" cannot join it
  // with the "o" of the previous word.
  const Tokenizer t = Tokenizer::from_vocab(make_vocab({"o Ġ", "Ġ w", "l o"}));
  EXPECT_EQ(t.encode("lo wo"), ids_of(t, {"lo", "Ġw", "o"}));
}

TEST(Bpe, UnmergedTextFallsBackToByteTokens) {
  const Tokenizer t = Tokenizer::from_vocab(make_vocab({}));
  const std::string text = "héllo 😀";
  std::vector<int32_t> expected;
  for (const char c : text) expected.push_back(static_cast<uint8_t>(c));   // byte b has id b
  EXPECT_EQ(t.encode(text), expected);
  EXPECT_EQ(t.decode(expected), text);
}

TEST(Bpe, MissingByteTokenIsBadInput) {
  TokenizerVocab v = make_vocab({});
  v.tokens['z'] = "<unused>";
  const Tokenizer t = Tokenizer::from_vocab(v);
  EXPECT_EQ(t.encode("ab").size(), 2u);
  expect_bad_input([&] { t.encode("fizz"); }, "0x7a");
}

TEST(Bpe, MergesNamingUnknownTokensNeverFire) {
  TokenizerVocab v = make_vocab({"a b"});
  v.merges.insert(v.merges.begin(), "a c");   // "ac" is not in the vocabulary
  v.merges.insert(v.merges.begin(), "q x");   // nor is "qx"
  const Tokenizer t = Tokenizer::from_vocab(v);
  EXPECT_EQ(t.encode("acab"), ids_of(t, {"a", "c", "ab"}));
}

TEST(Bpe, LongWordsStayFast) {
  const Tokenizer t = Tokenizer::from_vocab(make_vocab({"a a", "aa aa", "aaaa aaaa"}));
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = t.encode(std::string(200000, 'a'));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ids.size(), 200000u / 8);
  EXPECT_LT(ms, 2000.0);
}

TokenizerVocab special_vocab() {
  return make_vocab({"h i", "Ġ t"}, {{"<|im_start|>", TokenType::control},
                                     {"<|im_end|>", TokenType::control},
                                     {"<|im", TokenType::control},
                                     {"<tool>", TokenType::user_defined}});
}

TEST(Bpe, SpecialTokensSplitTheText) {
  const Tokenizer t = Tokenizer::from_vocab(special_vocab());
  const int32_t start = *t.token_id("<|im_start|>");
  const int32_t end = *t.token_id("<|im_end|>");
  const int32_t tool = *t.token_id("<tool>");
  const int32_t hi = *t.token_id("hi");
  EXPECT_EQ(t.encode("<|im_start|>hi<|im_end|>"), (std::vector<int32_t>{start, hi, end}));
  EXPECT_EQ(t.encode("hi<tool>hi"), (std::vector<int32_t>{hi, tool, hi}));
  // Longest match wins over the "<|im" prefix token; an unterminated one is text.
  EXPECT_EQ(t.encode("<|im<|im_end|>")[0], *t.token_id("<|im"));
  EXPECT_EQ(t.encode("<|im_start|").front(), *t.token_id("<|im"));
  EXPECT_EQ(t.encode("<|im_start|<|im_end|>").back(), end);
  // Merges never cross a special token: "h" + "i" are split by it.
  EXPECT_EQ(t.encode("h<tool>i"),
            (std::vector<int32_t>{*t.token_id("h"), tool, *t.token_id("i")}));
}

TEST(Bpe, WithoutParseSpecialControlTokensAreText) {
  const Tokenizer t = Tokenizer::from_vocab(special_vocab());
  const std::string text = "<|im_start|>hi <tool>";
  const std::vector<int32_t> ids = t.encode(text, /*parse_special=*/false);
  EXPECT_EQ(ids.front(), '<');   // byte tokens: id == byte
  EXPECT_EQ(ids.back(), *t.token_id("<tool>"));   // user-defined still matched
  EXPECT_EQ(t.decode(ids), text);
  for (const int32_t id : ids) EXPECT_NE(t.token_type(id), TokenType::control);
}

TEST(Bpe, DecodeRoundTripsAndKeepsPartialUtf8) {
  const Tokenizer t = Tokenizer::from_vocab(special_vocab());
  for (const std::string text : {"", "hi there", "<|im_start|>héllo\n\t😀<tool><|im_end|>",
                                 "bytes \xFF\xC3 stay"}) {
    EXPECT_EQ(t.decode(t.encode(text)), text);
  }
  const std::vector<int32_t> smile = t.encode("😀");
  ASSERT_EQ(smile.size(), 4u);
  EXPECT_EQ(t.decode_token(smile[0]), "\xF0");
  EXPECT_EQ(t.decode({smile[0], smile[1]}), "\xF0\x9F");
  EXPECT_EQ(t.decode_token(*t.token_id("Ġt")), " t");
  EXPECT_EQ(t.decode_token(*t.token_id("<|im_end|>")), "<|im_end|>");
}

TEST(Bpe, OutOfRangeIdsAreBadInput) {
  const Tokenizer t = Tokenizer::from_vocab(special_vocab());
  expect_bad_input([&] { t.decode_token(t.vocab_size()); }, "out of range");
  expect_bad_input([&] { t.decode({1, -1}); }, "-1");
  expect_bad_input([&] { t.token_type(-5); }, "out of range");
}

TEST(Bpe, Accessors) {
  TokenizerVocab v = special_vocab();
  v.pre = "qwen2";
  v.bos_id = 3;
  v.eos_id = 4;
  v.add_bos = true;
  Tokenizer t = Tokenizer::from_vocab(v);
  EXPECT_EQ(t.vocab_size(), static_cast<int32_t>(v.tokens.size()));
  EXPECT_EQ(t.bos_id(), 3);
  EXPECT_EQ(t.eos_id(), 4);
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.pre_tokenizer(), "qwen2");
  EXPECT_EQ(t.token_type(*t.token_id("<tool>")), TokenType::user_defined);
  EXPECT_FALSE(t.token_id("nope").has_value());
  Tokenizer moved = std::move(t);
  EXPECT_EQ(moved.bos_id(), 3);
}

TEST(Bpe, InconsistentVocabulariesAreBadInput) {
  expect_bad_input([] { Tokenizer::from_vocab({}); }, "empty");
  TokenizerVocab v = make_vocab({});
  v.token_types.pop_back();
  expect_bad_input([&] { Tokenizer::from_vocab(v); }, "token types");
  v = make_vocab({});
  v.merges = {"ab"};
  expect_bad_input([&] { Tokenizer::from_vocab(v); }, "merge #0");
  v = make_vocab({});
  v.eos_id = 256;
  expect_bad_input([&] { Tokenizer::from_vocab(v); }, "eos");
  v = make_vocab({});
  v.pre = "klingon";
  expect_bad_input([&] { Tokenizer::from_vocab(v); }, "klingon");
}

// ---------------------------------------------------------------- real model

class RealModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(LOCKSTEP_DEFAULT_MODEL)) return;
    tokenizer_ = std::make_unique<Tokenizer>(
        Tokenizer::from_gguf(gguf::File::open(LOCKSTEP_DEFAULT_MODEL)));
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  void SetUp() override {
    if (!tokenizer_) GTEST_SKIP() << "default model not found at " << LOCKSTEP_DEFAULT_MODEL;
  }
  static std::unique_ptr<Tokenizer> tokenizer_;
};

std::unique_ptr<Tokenizer> RealModel::tokenizer_;

TEST_F(RealModel, Metadata) {
  const Tokenizer& t = *tokenizer_;
  EXPECT_EQ(t.vocab_size(), 49152);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.pre_tokenizer(), "smollm");
  EXPECT_EQ(t.token_id("<|im_start|>"), 1);
  EXPECT_EQ(t.token_id("<|endoftext|>"), 0);
  EXPECT_EQ(t.token_type(2), TokenType::control);
  EXPECT_EQ(t.token_type(100), TokenType::normal);
  EXPECT_EQ(t.decode_token(2), "<|im_end|>");
}

TEST_F(RealModel, MatchesTransformers) {
  ASSERT_GE(expected_ids().size(), 25u);
  for (const IdsCase& c : expected_ids()) {
    const std::vector<int32_t> ids = tokenizer_->encode(c.text);
    EXPECT_EQ(ids, c.ids) << c.text;
    EXPECT_EQ(tokenizer_->decode(ids), c.text);
  }
}

TEST_F(RealModel, MatchesTransformersWithSpecialTokensAsText) {
  for (const IdsCase& c : expected_plain_ids()) {
    const std::vector<int32_t> ids = tokenizer_->encode(c.text, /*parse_special=*/false);
    EXPECT_EQ(ids, c.ids) << c.text;
    EXPECT_EQ(tokenizer_->decode(ids), c.text);
  }
}

TEST_F(RealModel, ArbitraryBytesRoundTrip) {
  std::string bytes;
  uint32_t x = 12345;
  while (bytes.size() < 4096) {
    x = x * 1103515245u + 12345u;
    const char b = static_cast<char>(x >> 24);
    if (tokenizer_->token_id(byte_level::encode(std::string(1, b)))) bytes.push_back(b);
  }
  EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(bytes, false)), bytes);
}

TEST_F(RealModel, BytesWithoutATokenAreBadInput) {
  // SmolLM2's vocabulary lacks 21 byte tokens (0x04, 0x06, 0xC0, 0xF5..0xFF,
  // ...); transformers silently drops such characters, we refuse them.
  expect_bad_input([] { tokenizer_->encode("a\x04" "b"); }, "0x04");
}

TEST_F(RealModel, EncodesThousandsOfTokensInMilliseconds) {
  std::string text;
  while (text.size() < 12000) {
    for (const IdsCase& c : expected_ids()) text += c.text + "\n";
  }
  (void)tokenizer_->encode(text);   // warm caches
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tokenizer_->encode(text);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("encoded %zu bytes into %zu tokens in %.2f ms\n", text.size(), ids.size(), ms);
  EXPECT_GT(ids.size(), 2000u);
  EXPECT_LT(ms, 100.0);   // a few ms in practice; generous for loaded CI machines
  EXPECT_EQ(tokenizer_->decode(ids), text);
}

}  // namespace
}  // namespace lockstep
