#include "core/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/weights/gguf.h"
#include "tests/core/expect_error.h"
#include "tests/core/tokenizer/expected.h"

namespace lockstep {
namespace {


// expected/chat_templates.json: template sources (smollm2: the GGUF file's), conversations, and
// transformers' renderings of each.
const nlohmann::json& chat_data() { return testing::expected("chat_templates.json"); }

std::string source_of(const std::string& name) {
  for (const auto& t : chat_data().at("templates")) {
    if (t.at("name") == name) return t.at("source").get<std::string>();
  }
  ADD_FAILURE() << "no template " << name;
  return "";
}

std::vector<ChatMessage> conversation(const std::string& name) {
  for (const auto& c : chat_data().at("conversations")) {
    if (c.at("name") != name) continue;
    std::vector<ChatMessage> messages;
    for (const auto& m : c.at("messages")) {
      messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    }
    return messages;
  }
  ADD_FAILURE() << "no conversation " << name;
  return {};
}

using testing::expect_bad_input;

TEST(ChatTemplate, RendersLikeTransformers) {
  const nlohmann::json& renders = chat_data().at("renders");
  ASSERT_GT(renders.size(), 30u);
  for (const auto& c : renders) {
    const std::string name = c.at("template"), talk = c.at("conversation");
    const bool prompt = c.at("add_generation_prompt");
    const ChatTemplate t = ChatTemplate::from_source(source_of(name));
    EXPECT_EQ(t.render(conversation(talk), prompt), c.at("text").get<std::string>())
        << name << " / " << talk << " / generation prompt " << prompt;
  }
}

TEST(ChatTemplate, ReadsTheDefaultSystemPromptFromTheSource) {
  const std::pair<const char*, const char*> expected[] = {
      {"smollm2", "You are a helpful AI assistant named SmolLM, trained by Hugging Face"},
      {"qwen2", "You are a helpful assistant."},
      {"qwen2.5", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."},
      {"chatml", ""},
  };
  for (const auto& [name, system] : expected) {
    const ChatTemplate t = ChatTemplate::from_source(source_of(name));
    EXPECT_EQ(t.family(), "chatml");
    EXPECT_EQ(t.default_system(), system) << name;
  }
}

TEST(ChatTemplate, UnescapesTheDefaultSystemPrompt) {
  const ChatTemplate t = ChatTemplate::from_source(
      R"({{ '<|im_start|>system\nIt\'s "fine"\\ok\tnow<|im_end|>\n' }}{% for message in messages %}{% endfor %})");
  EXPECT_EQ(t.default_system(), "It's \"fine\"\\ok\tnow");
}

TEST(ChatTemplate, EmptySourceAsksForRaw) {
  expect_bad_input([] { ChatTemplate::from_source(""); }, "--raw");
  expect_bad_input([] { ChatTemplate::from_source(" \n"); }, "no chat template");
}

TEST(ChatTemplate, OtherFamiliesAreBadInput) {
  const char* alpaca =
      "{% for message in messages %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}"
      "{% endfor %}{{ '### Response:\n' }}";
  expect_bad_input([&] { ChatTemplate::from_source(alpaca); }, "ChatML");
}

TEST(ChatTemplate, UnsupportedRolesAreBadInput) {
  const ChatTemplate t = ChatTemplate::from_source(source_of("qwen2.5"));
  expect_bad_input([&] { t.render({{"user", "hi"}, {"ipython", "42"}}, true); }, "ipython");
  const ChatTemplate zephyr = ChatTemplate::from_source("{{ '<|user|>' }}{{ '<|assistant|>' }}", "<s>", "</s>");
  expect_bad_input([&] { zephyr.render({{"user", "hi"}, {"tool", "42"}}, true); }, "tool");
  EXPECT_FALSE(zephyr.supports_tool_role());
}

// Tool messages (session scripts): SmolLM2-style templates render every role alike; Qwen2.5's
// groups consecutive tool messages into one user turn of <tool_response> blocks
// (tests/core/test_tokenizer_reference.py checks both against transformers).
TEST(ChatTemplate, ToolMessagesInTheChatMLFamilies) {
  const ChatTemplate chatml = ChatTemplate::from_source(source_of("chatml"));
  EXPECT_EQ(chatml.render({{"user", "hi"}, {"tool", "42"}}, false),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>tool\n42<|im_end|>\n");
  const ChatTemplate qwen = ChatTemplate::from_source(source_of("qwen2.5"));
  EXPECT_EQ(qwen.render({{"system", "s"}, {"user", "hi"}, {"tool", "a"}, {"tool", "b"}, {"assistant", "ok"}}, true),
            "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>user\n<tool_response>\na\n"
            "</tool_response>\n<tool_response>\nb\n</tool_response><|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, EmptyConversationIsBadInput) {
  const ChatTemplate t = ChatTemplate::from_source(source_of("smollm2"));
  expect_bad_input([&] { t.render({}, true); }, "no messages");
}

TEST(ChatTemplate, DefaultModelCarriesTheSmolLM2Template) {
  if (!std::filesystem::exists(LOCKSTEP_DEFAULT_MODEL)) {
    GTEST_SKIP() << "default model not found at " << LOCKSTEP_DEFAULT_MODEL;
  }
  const gguf::File file = gguf::File::open(LOCKSTEP_DEFAULT_MODEL);
  EXPECT_EQ(file.get_string("tokenizer.chat_template"), source_of("smollm2"));
}

}  // namespace
}  // namespace lockstep
