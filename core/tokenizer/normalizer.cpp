#include "core/tokenizer/normalizer.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/regex.h"

namespace lockstep {
namespace {

const UNormalizer2* icu_form(NormalizerStep::Kind kind) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* form = nullptr;
  switch (kind) {
    case NormalizerStep::Kind::nfc: form = unorm2_getNFCInstance(&status); break;
    case NormalizerStep::Kind::nfd: form = unorm2_getNFDInstance(&status); break;
    case NormalizerStep::Kind::nfkc: form = unorm2_getNFKCInstance(&status); break;
    case NormalizerStep::Kind::nfkd: form = unorm2_getNFKDInstance(&status); break;
    default: break;
  }
  if (U_FAILURE(status) || form == nullptr) {
    throw environment_error(std::string("ICU Unicode normalization is unavailable: ") +
                            u_errorName(status));
  }
  return form;
}

// Normalizes one stretch of valid UTF-8.
std::string normalize_valid(const UNormalizer2* form, std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  int32_t length = 0;
  std::u16string utf16(text.size(), u'\0');
  u_strFromUTF8(reinterpret_cast<UChar*>(utf16.data()), static_cast<int32_t>(utf16.size()), &length,
                text.data(), static_cast<int32_t>(text.size()), &status);
  if (U_FAILURE(status)) throw bad_input(std::string("UTF-8 conversion failed: ") + u_errorName(status));
  utf16.resize(static_cast<size_t>(length));
  // NFKD/NFD can grow the text; 4x plus slack covers every decomposition.
  std::u16string normalized(utf16.size() * 4 + 16, u'\0');
  length = unorm2_normalize(form, reinterpret_cast<const UChar*>(utf16.data()),
                            static_cast<int32_t>(utf16.size()),
                            reinterpret_cast<UChar*>(normalized.data()),
                            static_cast<int32_t>(normalized.size()), &status);
  if (U_FAILURE(status)) throw bad_input(std::string("Unicode normalization failed: ") + u_errorName(status));
  normalized.resize(static_cast<size_t>(length));
  std::string out(normalized.size() * 3, '\0');
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &length,
              reinterpret_cast<const UChar*>(normalized.data()),
              static_cast<int32_t>(normalized.size()), &status);
  if (U_FAILURE(status)) throw bad_input(std::string("UTF-8 conversion failed: ") + u_errorName(status));
  out.resize(static_cast<size_t>(length));
  return out;
}

std::string normalize_form(const UNormalizer2* form, std::string_view text) {
  std::string out;
  size_t run = 0;   // start of the current valid stretch
  size_t pos = 0;
  uint32_t cp = 0;
  while (pos < text.size()) {
    if (utf8::next(text, pos, cp)) continue;
    out += normalize_valid(form, text.substr(run, pos - run));
    out.push_back(text[pos]);   // a malformed byte stays as it is
    run = ++pos;
  }
  out += normalize_valid(form, text.substr(run));
  return out;
}

}  // namespace

struct Normalizer::Impl {
  struct Step {
    NormalizerStep spec;
    std::unique_ptr<Regex> regex;
    const UNormalizer2* form = nullptr;
  };
  std::vector<Step> steps;
};

Normalizer::Normalizer() : impl_(std::make_unique<Impl>()) {}

Normalizer::Normalizer(std::vector<NormalizerStep> steps) : impl_(std::make_unique<Impl>()) {
  for (NormalizerStep& spec : steps) {
    Impl::Step step{std::move(spec), nullptr, nullptr};
    if (step.spec.kind == NormalizerStep::Kind::replace && step.spec.regex) {
      step.regex = std::make_unique<Regex>(step.spec.text, "Replace normalizer regex");
    } else if (step.spec.kind == NormalizerStep::Kind::replace && step.spec.text.empty()) {
      throw bad_input("Replace normalizer pattern is empty");
    } else if (step.spec.kind != NormalizerStep::Kind::prepend &&
               step.spec.kind != NormalizerStep::Kind::replace) {
      step.form = icu_form(step.spec.kind);
    }
    impl_->steps.push_back(std::move(step));
  }
}

Normalizer::Normalizer(Normalizer&&) noexcept = default;
Normalizer& Normalizer::operator=(Normalizer&&) noexcept = default;
Normalizer::~Normalizer() = default;

bool Normalizer::empty() const { return impl_->steps.empty(); }

std::string Normalizer::apply(std::string_view text) const {
  std::string out(text);
  for (const Impl::Step& step : impl_->steps) {
    switch (step.spec.kind) {
      case NormalizerStep::Kind::prepend:
        if (!out.empty()) out.insert(0, step.spec.text);   // as Hugging Face: never on ""
        break;
      case NormalizerStep::Kind::replace: {
        std::string replaced;
        if (step.regex) {
          for (const Regex::Span& s : step.regex->find_matches(out)) {
            if (s.is_match) {
              replaced += step.spec.content;
            } else {
              replaced.append(out, s.begin, s.end - s.begin);
            }
          }
        } else {
          size_t start = 0;
          for (size_t at = out.find(step.spec.text); at != std::string::npos;
               at = out.find(step.spec.text, start)) {
            replaced.append(out, start, at - start);
            replaced += step.spec.content;
            start = at + step.spec.text.size();
          }
          replaced.append(out, start, std::string::npos);
        }
        out = std::move(replaced);
        break;
      }
      default:
        out = normalize_form(step.form, out);
        break;
    }
  }
  return out;
}

}  // namespace lockstep
