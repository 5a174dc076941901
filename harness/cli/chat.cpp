// `lockstep chat`: an interactive chat through the batching engine (a system
// prompt, streamed tokens, multi-turn; earlier turns' KV reused). --export
// writes the conversation as a session trace (lockstep.trace/1) after every
// turn, which `lockstep session replay` runs again solo and checks bit for bit.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/session_load.h"
#include "harness/device_options.h"
#include "harness/env.h"
#include "harness/paths.h"
#include "harness/proofs/proof.h"
#include "harness/sessions/session_runner.h"
#include "harness/sessions/session_trace.h"
#include "harness/sessions/text_stream.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

using json = nlohmann::ordered_json;

struct ChatOptions {
  std::string model, system, export_path;
  std::string mode = kDefaultMode;
  std::string device = "cpu";
  std::string dtype = "fp32";
  int64_t max_new_tokens = 256;
  double temperature = 0.0;
  std::optional<uint64_t> seed;
  bool force = false;
};

// Prints an answer as its tokens arrive (on the engine's thread), whole
// characters only (invalid bytes as U+FFFD, as the trace's text), without
// the end-of-turn token.
class Streamer {
 public:
  Streamer(const ModelBundle& bundle, std::vector<int32_t> stops)
      : text_(std::make_shared<harness::TextStream>(bundle.tokenizer, std::move(stops))) {}
  void operator()(int32_t token, bool last, const StepLogprobs* /*logprobs*/) {
    std::cout << text_->push(token);
    if (last) std::cout << text_->finish();
    std::cout << std::flush;
  }

 private:
  std::shared_ptr<harness::TextStream> text_;   // shared: std::function copies the streamer
};

// One message: a line, continued by a trailing backslash. nullopt at the end of the input.
std::optional<std::string> read_message(bool interactive) {
  std::string message, line;
  if (interactive) std::cerr << "you> " << std::flush;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\\') {
      message += line.substr(0, line.size() - 1) + "\n";
      if (interactive) std::cerr << "...> " << std::flush;
      continue;
    }
    return message + line;
  }
  if (!message.empty()) return message;
  return std::nullopt;
}

int chat(const ChatOptions& o) {
  if (!(o.temperature >= 0.0) || !std::isfinite(o.temperature)) throw bad_input("--temperature must be a finite number >= 0");
  if (o.max_new_tokens < 1 || o.max_new_tokens > 4096) throw bad_input("--max-new-tokens must be from 1 to 4096");
  if (!o.export_path.empty()) {
    if (!o.force && harness::is_regular_file(o.export_path)) {
      throw bad_input(o.export_path + " exists; it is replaced only with --force");
    }
    harness::check_writable(o.export_path);
  }
  const kernels::ModeGuard mode(mode_option(o.mode));
  Loaded l = load_for_session("chat", o.model, o.device, o.dtype);
  l.environment.mode = o.mode;
  std::optional<uint64_t> seed = o.seed;
  if (o.temperature > 0 && !seed) {
    seed = std::random_device{}() & 0x7fffffffu;
    std::cerr << fmt::format("chat: sampling at temperature {} with --seed {} (the trace records it)\n", o.temperature, *seed);
  }

  harness::SessionScript script;
  script.name = "chat";
  script.system = o.system;
  script.document = json{{"schema", harness::kSessionSchema}, {"name", "chat"}};
  if (!o.system.empty()) script.document["system"] = o.system;
  script.document["steps"] = json::array();
  harness::SessionState state(*l.bundle, script);

  EngineOptions engine_options;
  engine_options.max_batch = 1;
  engine_options.mode = kernels::mode();
  // Earlier turns' KV is reused only where that is bitwise a recompute.
  engine_options.prefix_cache = kernels::mode() == kernels::Mode::batch_invariant;
  const std::shared_ptr<const DecoderModel> model(l.bundle, &l.bundle->model);
  Engine engine(model, {l.bundle->tokenizer.eos_id()}, engine_options);

  harness::Trace trace;
  trace.created_at = harness::utc_timestamp_now();
  trace.model_name = l.bundle->name;
  trace.model_sha256 = l.sha256;
  trace.environment = l.environment;
  bool written = false;
  auto export_trace = [&] {
    if (o.export_path.empty() || trace.turns.empty()) return;
    trace.script = script.document;
    harness::write_trace(o.export_path, trace, o.force || written);
    written = true;
  };

  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) std::cerr << "chat: type a message and Enter (a trailing \\ continues the line); /exit or Ctrl-D ends\n";
  int64_t answers = 0;
  while (const std::optional<std::string> message = read_message(interactive)) {
    if (*message == "/exit" || *message == "/quit") break;
    if (message->find_first_not_of(" \t\r\n") == std::string::npos) continue;
    harness::SessionStep user;
    user.type = "user";
    user.text = *message;
    harness::SessionStep generate;
    generate.type = "generate";
    generate.max_new_tokens = o.max_new_tokens;
    generate.temperature = o.temperature;
    if (o.temperature > 0) generate.seed = seed;
    json step{{"type", "generate"}, {"max_new_tokens", o.max_new_tokens}};
    if (o.temperature > 0) {
      step["temperature"] = o.temperature;
      step["seed"] = *seed;
    }
    script.steps.push_back(user);
    script.steps.push_back(generate);
    script.document["steps"].push_back(json{{"type", "user"}, {"text", *message}});
    script.document["steps"].push_back(step);

    trace.turns.push_back(state.run(script, script.steps.size() - 2, {}, {}));
    const auto start = std::chrono::steady_clock::now();
    const harness::TurnGenerator through_engine = [&](const std::vector<int32_t>& ids, const GenerateOptions& options,
                                                      const StepObserver&) {
      GenerateOptions streamed = options;
      std::vector<int32_t> stops = options.stop_ids;
      stops.push_back(l.bundle->tokenizer.eos_id());
      streamed.on_token = Streamer(*l.bundle, stops);
      return engine.submit(ids, streamed).get();
    };
    try {
      trace.turns.push_back(state.run(script, script.steps.size() - 1, through_engine, {}));
    } catch (const Error&) {
      script.steps.resize(script.steps.size() - 2);   // the trace keeps the turns that ran
      script.document["steps"].erase(script.document["steps"].size() - 1);
      script.document["steps"].erase(script.document["steps"].size() - 1);
      trace.turns.pop_back();
      export_trace();
      throw;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const harness::RunRecord& r = trace.turns.back().record;
    std::cout << "\n" << std::flush;
    std::cerr << fmt::format("[{} tokens, {:.1f} tokens/s, {}; prompt {} tokens]\n", r.output_ids.size(),
                             static_cast<double>(r.output_ids.size()) / std::max(seconds, 1e-9), r.stop_reason,
                             r.prompt_ids.size());
    ++answers;
    export_trace();
  }
  if (!o.export_path.empty()) {
    if (written) {
      std::cerr << fmt::format("chat: {} answers; trace {} (check it: lockstep session replay {})\n", answers,
                               o.export_path, o.export_path);
    } else {
      std::cerr << "chat: no answer, so nothing was exported\n";
    }
  }
  return kOk;
}

}  // namespace

Command add_chat_command(CLI::App& parent) {
  const char* about =
      "Chat with the model through the batching engine: streamed answers, multi-turn; --export writes "
      "a trace that `lockstep session replay` checks bit for bit.";
  return options_command<ChatOptions>(parent, "chat", about, chat, [](CLI::App* app, ChatOptions& o) {
    app->add_option("--model", o.model, kModelHelp);
    app->add_option("--system", o.system, "System prompt (default: none; the chat template's default applies)");
    app->add_option("--max-new-tokens", o.max_new_tokens, "Most tokens per answer (1-4096)")->capture_default_str();
    app->add_option("--temperature", o.temperature, "0: greedy; > 0 samples (seeded)")->capture_default_str();
    app->add_option("--seed", o.seed, "Sampling seed (default with --temperature: a random one, printed and recorded)");
    app->add_option("--export", o.export_path, "Write the conversation as a session trace (lockstep.trace/1) after every answer");
    app->add_flag("--force", o.force, "Replace an existing --export file");
    add_engine_options(app, o.mode, o.device, o.dtype);
    app->footer("Messages come from standard input, one per line (a trailing backslash continues it); /exit or the "
                "end of the input ends the chat. Answers stream to stdout; prompts and per-answer statistics go to "
                "stderr.\nExit codes: 0 done; 2 bad input (bad option, a model without a chat template, a conversation "
                "longer than the model's context: the trace keeps the turns before it); 3 environment.");
  });
}

}  // namespace lockstep::cli
