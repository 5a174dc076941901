#include "core/weights/safetensors_source.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/core/weights/expect_error.h"
#include "tests/core/weights/safetensors_builder.h"

namespace lockstep {
namespace {

using testing::SafetensorsBuilder;
using testing::TempDir;

using testing::expect_error;

std::vector<float> read(const TensorSource& s, const std::string& name) {
  const TensorMeta* meta = s.find(name);
  EXPECT_NE(meta, nullptr) << name;
  std::vector<float> out(meta == nullptr ? 0 : static_cast<size_t>(meta->n_elements()));
  s.read_f32(name, out.data());
  return out;
}

std::vector<uint8_t> shard(const std::vector<std::string>& names, float first) {
  SafetensorsBuilder b;
  b.metadata("format", "pt");
  float v = first;
  for (const std::string& n : names) {
    b.add_f32(n, {2}, {v, v + 0.5f});
    v += 1.0f;
  }
  return b.build();
}

const std::string kFirst = "model-00001-of-00002.safetensors";
const std::string kSecond = "model-00002-of-00002.safetensors";

std::string index_json(const std::vector<std::pair<std::string, std::string>>& map) {
  std::string s = "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {";
  for (size_t i = 0; i < map.size(); ++i) {
    s += (i ? ", \"" : "\"") + map[i].first + "\": \"" + map[i].second + "\"";
  }
  return s + "}}";
}

// model-00001-of-00002 holds a and b, model-00002-of-00002 holds c.
struct Sharded {
  TempDir dir;
  std::string index;
  explicit Sharded(const std::string& index_text = index_json({{"a", kFirst}, {"b", kFirst}, {"c", kSecond}})) {
    dir.write(kFirst, shard({"a", "b"}, 1.0f));
    dir.write(kSecond, shard({"c"}, 10.0f));
    index = dir.write("model.safetensors.index.json", index_text);
  }
};

// Opening the folder must fail with bad_input naming `parts`.
void expect_refused(const Sharded& s, const std::vector<std::string>& parts) {
  expect_error([&] { open_safetensors(s.dir.path()); }, ErrorKind::bad_input, parts);
}

TEST(SafetensorsSource, SingleFileByPathAndByFolder) {
  TempDir dir;
  SafetensorsBuilder b;
  b.add_f32("model.embed_tokens.weight", {2, 2}, {1, 2, 3, 4});
  b.add_u16("model.norm.weight", "BF16", {2}, {0x3F80, 0x4000});
  b.add("ids", "I64", {1}, std::vector<uint8_t>(8, 0));
  const std::string path = dir.write("model.safetensors", b.build());

  for (const std::string& where : {path, dir.path(), dir.path() + "/"}) {
    SCOPED_TRACE(where);
    const auto src = open_safetensors(where);
    EXPECT_EQ(src->origin(), path);
    EXPECT_EQ(src->names(),
              (std::vector<std::string>{"ids", "model.embed_tokens.weight", "model.norm.weight"}));
    const TensorMeta* norm = src->find("model.norm.weight");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->dtype, "BF16");
    EXPECT_EQ(norm->shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(read(*src, "model.norm.weight"), (std::vector<float>{1.0f, 2.0f}));
    EXPECT_EQ(read(*src, "model.embed_tokens.weight"), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(src->find("ids")->dtype, "I64");
    EXPECT_EQ(src->find("nope"), nullptr);
    float x = 0;
    expect_error([&] { src->read_f32("nope", &x); }, ErrorKind::bad_input, {"nope", path});
    expect_error([&] { src->read_f32("ids", &x); }, ErrorKind::bad_input, {"I64", path});
  }
}

TEST(SafetensorsSource, MissingPathsAreEnvironmentErrors) {
  TempDir dir;
  expect_error([&] { open_safetensors(dir.path()); }, ErrorKind::environment,
               {dir.path(), "neither model.safetensors.index.json nor model.safetensors"});
  expect_error([&] { open_safetensors(dir.path() + "/x.safetensors"); }, ErrorKind::environment,
               {"x.safetensors", "cannot open"});
}

TEST(SafetensorsSource, ShardedByFolderAndByIndex) {
  Sharded s;
  for (const std::string& where : {s.dir.path(), s.index}) {
    SCOPED_TRACE(where);
    const auto src = open_safetensors(where);
    EXPECT_EQ(src->origin(), s.index);
    EXPECT_EQ(src->names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(read(*src, "a"), (std::vector<float>{1.0f, 1.5f}));
    EXPECT_EQ(read(*src, "b"), (std::vector<float>{2.0f, 2.5f}));
    EXPECT_EQ(read(*src, "c"), (std::vector<float>{10.0f, 10.5f}));
  }
}

TEST(SafetensorsSource, ShardedFolderPrefersTheIndex) {
  Sharded s;
  s.dir.write("model.safetensors", shard({"other"}, 0.0f));
  EXPECT_EQ(open_safetensors(s.dir.path())->names(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SafetensorsSource, RejectsAMissingShard) {
  Sharded s(index_json({{"a", kFirst}, {"b", kFirst}, {"c", kSecond}, {"d", "model-00003-of-00003.safetensors"}}));
  expect_refused(s, {s.index, "model-00003-of-00003.safetensors", "does not exist"});
}

TEST(SafetensorsSource, RejectsAMappedTensorMissingFromItsShard) {
  Sharded s(index_json({{"a", kFirst}, {"b", kFirst}, {"c", kSecond}, {"zzz", kSecond}}));
  expect_refused(s, {s.index, "'zzz'", "does not hold it"});
}

TEST(SafetensorsSource, RejectsATensorInAnotherShardThanMapped) {
  Sharded s(index_json({{"a", kSecond}, {"b", kFirst}, {"c", kSecond}}));
  expect_refused(s, {"'a' is mapped to", "model-00002-of-00002", "but is in", "model-00001-of-00002"});
}

TEST(SafetensorsSource, RejectsDuplicatesAcrossShards) {
  Sharded s;
  s.dir.write(kSecond, shard({"b", "c"}, 10.0f));
  expect_refused(s, {"tensor 'b' is in both", "model-00001-of-00002", "model-00002-of-00002"});
}

TEST(SafetensorsSource, RejectsAShardTensorTheIndexDoesNotMap) {
  Sharded s(index_json({{"a", kFirst}, {"c", kSecond}}));
  expect_refused(s, {"'b'", "not in the weight_map"});
}

TEST(SafetensorsSource, RejectsMalformedIndexes) {
  struct Row {
    std::string text;
    std::string message;
  };
  for (const Row& row : {Row{"{", "not valid JSON"}, Row{"[]", "not a JSON object"},
                         Row{"{\"metadata\": {}}", "'weight_map' is missing"},
                         Row{"{\"weight_map\": []}", "'weight_map' is not a JSON object"},
                         Row{"{\"weight_map\": {}}", "'weight_map' is empty"},
                         Row{"{\"weight_map\": {\"a\": 3}}", "entry of 'a' is not a string"},
                         Row{"{\"weight_map\": {\"a\": \"../x.safetensors\"}}", "not a plain file name"},
                         Row{"{\"weight_map\": {\"a\": \"/etc/passwd\"}}", "not a plain file name"},
                         Row{"{\"weight_map\": {\"a\": \"..\"}}", "not a plain file name"},
                         Row{"{\"weight_map\": {\"a\": \"\"}}", "not a plain file name"}}) {
    SCOPED_TRACE(row.text);
    Sharded s(row.text);
    expect_refused(s, {s.index, row.message});
  }
}

TEST(SafetensorsSource, ACorruptShardNamesTheShard) {
  Sharded s;
  const std::string bad = s.dir.write(kSecond, std::string("junk"));
  expect_refused(s, {bad, "truncated"});
}

}  // namespace
}  // namespace lockstep
