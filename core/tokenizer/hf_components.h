// Reading the pipeline sections of a Hugging Face tokenizer.json into
// lockstep's stages: normalizer, pre_tokenizer, post_processor, decoder.
// Each accepts exactly the types lockstep implements and refuses the rest
// with bad_input naming the file and JSON path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tokenizer/decoder.h"
#include "core/tokenizer/json_at.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/pretokenizer.h"

namespace lockstep::hf {

// Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD.
std::vector<NormalizerStep> normalizer_steps(const JsonAt& normalizer);
// Sequence, Split, ByteLevel, Metaspace, Digits. A ByteLevel step must be
// the last one.
std::vector<PreTokenizerStep> pre_tokenizer_steps(const JsonAt& pre_tokenizer);
// "llama3", "qwen2", "gpt2", "digits+gpt2", "metaspace", "none", "custom", ...
std::string pre_tokenizer_name(const std::vector<PreTokenizerStep>& steps);
// Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace.
std::vector<DecoderStep> decoder_steps(const JsonAt& decoder);

// The special tokens TemplateProcessing puts around a single sequence.
struct PostProcessor {
  std::vector<int32_t> before;   // ids added before the sequence
  std::vector<int32_t> after;    // ids added after it
};
// TemplateProcessing, ByteLevel (adds nothing), Sequence of those.
PostProcessor post_processor(const JsonAt& processor);

}  // namespace lockstep::hf
