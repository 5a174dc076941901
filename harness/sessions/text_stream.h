// The text of a growing token sequence, handed out piece by piece as tokens
// arrive (chat's streamed answer, the server's streamed completions): a
// piece never ends inside a UTF-8 character (invalid bytes become U+FFFD, as
// in traces), and with stop strings the text is cut before the first one and
// nothing that could still become part of one is handed out early.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {
class Tokenizer;
}

namespace lockstep::harness {

// The length of the longest prefix of `text` that does not end inside a UTF-8 character.
size_t complete_utf8(const std::string& text);

class TextStream {
 public:
  // `skip`: token ids left out of the text (EOS, the end-of-turn token).
  TextStream(const Tokenizer& tokenizer, std::vector<int32_t> skip = {}, std::vector<std::string> stops = {});
  // Adds a token; returns the text that became final (may be empty).
  std::string push(int32_t token);
  // Ends the sequence; returns the rest of the text.
  std::string finish();
  // All the text handed out so far (after finish(): the whole, cut at a stop string).
  const std::string& text() const { return shown_; }
  bool stopped() const { return stopped_; }   // a stop string was found

 private:
  std::string release(bool last);
  const Tokenizer& tokenizer_;
  std::vector<int32_t> skip_;
  std::vector<std::string> stops_;
  size_t hold_ = 0;   // bytes held back while a stop string could still complete
  std::vector<int32_t> ids_;
  std::string out_;     // the bytes handed out
  std::string shown_;   // the same as valid UTF-8
  bool stopped_ = false;
};

}  // namespace lockstep::harness
