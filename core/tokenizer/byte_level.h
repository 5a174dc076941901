// GPT-2's byte-level alphabet and the UTF-8 helpers around it.
//
// Byte-level BPE vocabularies never store raw bytes: each byte 0..255 is
// spelled as one printable code point (space is "Ġ" U+0120, newline "Ċ"
// U+010A, printable ASCII is itself), so every token is a valid string and
// any byte sequence, even invalid UTF-8, can be tokenized.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lockstep::byte_level {

// The code point that spells byte `b`.
uint32_t byte_to_codepoint(uint8_t b);
// The byte a code point spells, or -1 when it is outside the alphabet.
int codepoint_to_byte(uint32_t cp);

// Raw bytes -> their byte-level spelling (UTF-8 encoded).
std::string encode(std::string_view bytes);
// Byte-level spelling -> raw bytes; nullopt when `text` is not valid UTF-8
// or holds a code point outside the alphabet.
std::optional<std::string> decode(std::string_view text);
// Whether every code point of `text` belongs to the alphabet.
bool is_spelled(std::string_view text);

}  // namespace lockstep::byte_level

namespace lockstep::utf8 {

void append(std::string& out, uint32_t cp);
// Decodes the code point at `pos` and advances past it. Returns false (and
// leaves `pos` alone) at the end or on a malformed sequence.
bool next(std::string_view text, size_t& pos, uint32_t& cp);
// Length of the UTF-8 sequence that `lead` starts (1 for a stray byte), so
// callers can step over text that may be malformed.
size_t sequence_length(uint8_t lead);

}  // namespace lockstep::utf8
