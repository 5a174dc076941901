#include "core/tokenizer/hf_components.h"

#include <climits>
#include <utility>

#include "kernels/enum_names.h"

namespace lockstep::hf {
namespace {

std::string type_of(const JsonAt& section) { return section["type"].str(); }

[[noreturn]] void unsupported(const JsonAt& section, const std::string& type, const char* known) {
  section["type"].fail("\"" + type + "\" is not supported (lockstep knows " + known + ")");
}

// A Split/Replace pattern: {"Regex": "..."} or {"String": "..."}; a literal
// comes back escaped as a regex when `as_regex` is set.
std::string pattern_of(const JsonAt& pattern, bool as_regex, bool* is_regex) {
  (void)pattern.object();
  if (std::optional<JsonAt> regex = pattern.find("Regex")) {
    if (is_regex) *is_regex = true;
    return regex->str();
  }
  if (std::optional<JsonAt> literal = pattern.find("String")) {
    if (is_regex) *is_regex = false;
    if (!as_regex) return literal->str();
    std::string escaped;
    for (const char c : literal->str()) {
      const auto u = static_cast<unsigned char>(c);
      const bool plain = u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                         (c >= 'A' && c <= 'Z');
      if (!plain) escaped.push_back('\\');
      escaped.push_back(c);
    }
    return escaped;
  }
  pattern.fail("expected {\"Regex\": ...} or {\"String\": ...}");
}

PrependScheme prepend_scheme_of(const JsonAt& section) {
  PrependScheme scheme = PrependScheme::always;
  if (std::optional<JsonAt> s = section.find("prepend_scheme")) {
    const std::string& name = s->str();
    if (name == "always") {
      scheme = PrependScheme::always;
    } else if (name == "first") {
      scheme = PrependScheme::first;
    } else if (name == "never") {
      scheme = PrependScheme::never;
    } else {
      s->fail("\"" + name + "\" is not one of always, first, never");
    }
  }
  // Files from before prepend_scheme existed say add_prefix_space.
  if (std::optional<JsonAt> add = section.find("add_prefix_space")) {
    if (!add->boolean()) {
      if (section.find("prepend_scheme") && scheme != PrependScheme::never) {
        add->fail("false does not match prepend_scheme");
      }
      scheme = PrependScheme::never;
    }
  }
  return scheme;
}

std::string one_char(const JsonAt& value) {
  const std::string& s = value.str();
  if (s.empty()) value.fail("expected one character, got an empty string");
  return s;
}

// A "Sequence" component, whose `key` array lists components: each added in
// turn by `add` (the caller, recursively). False when `type` is another.
template <class Out>
bool add_sequence(const JsonAt& n, const std::string& type, const char* key, Out& out,
                  void (*add)(const JsonAt&, Out&)) {
  if (type != "Sequence") return false;
  const JsonAt list = n[key];
  for (size_t i = 0; i < list.array_size(); ++i) add(list.at(i), out);
  return true;
}

void add_normalizer(const JsonAt& n, std::vector<NormalizerStep>& steps) {
  const std::string type = type_of(n);
  if (add_sequence(n, type, "normalizers", steps, add_normalizer)) return;
  using Kind = NormalizerStep::Kind;
  // The Unicode normalization forms: no options.
  static constexpr kernels::Named<Kind> kForms[] = {
      {Kind::nfc, "NFC"}, {Kind::nfd, "NFD"}, {Kind::nfkc, "NFKC"}, {Kind::nfkd, "NFKD"}};
  NormalizerStep step;
  if (const Kind* form = kernels::value_of(kForms, type)) {
    step.kind = *form;
  } else if (type == "Prepend") {
    step.kind = NormalizerStep::Kind::prepend;
    step.text = n["prepend"].str();
  } else if (type == "Replace") {
    step.kind = NormalizerStep::Kind::replace;
    step.text = pattern_of(n["pattern"], false, &step.regex);
    step.content = n["content"].str();
  } else {
    unsupported(n, type, "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD");
  }
  steps.push_back(std::move(step));
}

SplitBehavior behavior_of(const JsonAt& value) {
  static const std::pair<const char*, SplitBehavior> kNames[] = {
      {"Removed", SplitBehavior::removed},
      {"Isolated", SplitBehavior::isolated},
      {"MergedWithPrevious", SplitBehavior::merged_with_previous},
      {"MergedWithNext", SplitBehavior::merged_with_next},
      {"Contiguous", SplitBehavior::contiguous},
  };
  const std::string& name = value.str();
  for (const auto& [known, behavior] : kNames) {
    if (name == known) return behavior;
  }
  value.fail("\"" + name +
             "\" is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

void add_pre_tokenizer(const JsonAt& p, std::vector<PreTokenizerStep>& steps) {
  const std::string type = type_of(p);
  if (add_sequence(p, type, "pretokenizers", steps, add_pre_tokenizer)) return;
  PreTokenizerStep step;
  if (type == "Split") {
    step.kind = PreTokenizerStep::Kind::split;
    step.pattern = pattern_of(p["pattern"], true, nullptr);
    step.behavior = behavior_of(p["behavior"]);
    step.invert = p.bool_or("invert", false);
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizerStep::Kind::byte_level;
    step.add_prefix_space = p.bool_or("add_prefix_space", true);
    step.use_regex = p.bool_or("use_regex", true);
    (void)p.bool_or("trim_offsets", true);   // offsets only; lockstep has none
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Kind::metaspace;
    step.replacement = one_char(p["replacement"]);
    step.prepend_scheme = prepend_scheme_of(p);
    step.split = p.bool_or("split", true);
  } else if (type == "Digits") {
    step.kind = PreTokenizerStep::Kind::digits;
    step.individual_digits = p.bool_or("individual_digits", false);
  } else {
    unsupported(p, type, "Sequence, Split, ByteLevel, Metaspace, Digits");
  }
  if (!steps.empty() && steps.back().kind == PreTokenizerStep::Kind::byte_level) {
    p.fail("a " + type + " step after ByteLevel is not supported (ByteLevel must come last)");
  }
  steps.push_back(std::move(step));
}

void add_decoder(const JsonAt& d, std::vector<DecoderStep>& steps) {
  const std::string type = type_of(d);
  if (add_sequence(d, type, "decoders", steps, add_decoder)) return;
  using Kind = DecoderStep::Kind;
  // The decoders without options.
  static constexpr kernels::Named<Kind> kPlain[] = {
      {Kind::byte_level, "ByteLevel"}, {Kind::byte_fallback, "ByteFallback"}, {Kind::fuse, "Fuse"}};
  DecoderStep step;
  if (const Kind* plain = kernels::value_of(kPlain, type)) {
    step.kind = *plain;
  } else if (type == "Replace") {
    step.kind = DecoderStep::Kind::replace;
    bool regex = false;
    step.pattern = pattern_of(d["pattern"], false, &regex);
    if (regex) d["pattern"].fail("a Regex pattern in a Replace decoder is not supported");
    step.content = d["content"].str();
  } else if (type == "Strip") {
    step.kind = DecoderStep::Kind::strip;
    step.content = one_char(d["content"]);
    const int64_t start = d["start"].integer();
    const int64_t stop = d["stop"].integer();
    if (start < 0) d["start"].fail("must not be negative");
    if (stop < 0) d["stop"].fail("must not be negative");
    step.start = static_cast<size_t>(start);
    step.stop = static_cast<size_t>(stop);
  } else if (type == "Metaspace") {
    step.kind = DecoderStep::Kind::metaspace;
    step.pattern = one_char(d["replacement"]);
    step.prepend_scheme = prepend_scheme_of(d);
  } else {
    unsupported(d, type, "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace");
  }
  steps.push_back(std::move(step));
}

std::vector<int32_t> special_ids(const JsonAt& specials, const std::string& name) {
  const JsonAt entry = specials[name.c_str()];
  const JsonAt ids = entry["ids"];
  std::vector<int32_t> out;
  for (size_t i = 0; i < ids.array_size(); ++i) {
    const int64_t id = ids.at(i).integer();
    if (id < 0 || id > INT32_MAX) ids.at(i).fail("token id " + std::to_string(id) + " is out of range");
    out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

void add_post_processor(const JsonAt& p, PostProcessor& out) {
  const std::string type = type_of(p);
  if (add_sequence(p, type, "processors", out, add_post_processor)) return;
  if (type == "ByteLevel") return;   // trims offsets; adds no tokens
  if (type != "TemplateProcessing") unsupported(p, type, "TemplateProcessing, ByteLevel, Sequence");
  const JsonAt single = p["single"];
  bool seen_sequence = false;
  for (size_t i = 0; i < single.array_size(); ++i) {
    const JsonAt piece = single.at(i);
    if (std::optional<JsonAt> special = piece.find("SpecialToken")) {
      const std::vector<int32_t> ids = special_ids(p["special_tokens"], (*special)["id"].str());
      std::vector<int32_t>& side = seen_sequence ? out.after : out.before;
      side.insert(side.end(), ids.begin(), ids.end());
    } else if (std::optional<JsonAt> sequence = piece.find("Sequence")) {
      if ((*sequence)["id"].str() != "A") (*sequence)["id"].fail("expected \"A\" in a single template");
      if (seen_sequence) piece.fail("the sequence appears twice");
      seen_sequence = true;
    } else {
      piece.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  if (!seen_sequence) single.fail("the template has no sequence $A");
}

std::string step_name(const PreTokenizerStep& step) {
  switch (step.kind) {
    case PreTokenizerStep::Kind::split: {
      const std::string family = PreTokenizer::family_of(step.pattern);
      return family.empty() || step.behavior != SplitBehavior::isolated || step.invert ? "custom"
                                                                                       : family;
    }
    case PreTokenizerStep::Kind::byte_level: return step.use_regex ? "gpt2" : "";
    case PreTokenizerStep::Kind::metaspace: return "metaspace";
    case PreTokenizerStep::Kind::digits: return "digits";
  }
  return "custom";
}

}  // namespace

std::vector<NormalizerStep> normalizer_steps(const JsonAt& normalizer) {
  std::vector<NormalizerStep> steps;
  add_normalizer(normalizer, steps);
  return steps;
}

std::vector<PreTokenizerStep> pre_tokenizer_steps(const JsonAt& pre_tokenizer) {
  std::vector<PreTokenizerStep> steps;
  add_pre_tokenizer(pre_tokenizer, steps);
  return steps;
}

std::string pre_tokenizer_name(const std::vector<PreTokenizerStep>& steps) {
  std::string name;
  for (const PreTokenizerStep& step : steps) {
    const std::string part = step_name(step);
    if (!part.empty()) name += (name.empty() ? "" : "+") + part;
  }
  return name.empty() ? "none" : name;
}

std::vector<DecoderStep> decoder_steps(const JsonAt& decoder) {
  std::vector<DecoderStep> steps;
  add_decoder(decoder, steps);
  return steps;
}

PostProcessor post_processor(const JsonAt& processor) {
  PostProcessor out;
  add_post_processor(processor, out);
  return out;
}

}  // namespace lockstep::hf
