// The backend-consistency table: one row per aten overload of kernels/ops.def, called through the
// public aten API (so through kernels/register.cpp's routes, as a model would call it). For every
// row x mode x dtype x device x shape:
//   (a) the result agrees with a float64 reference (the same aten call on float64 CPU copies of the
//       inputs with the mode off: stock) within the row's stated tolerance, with stock's shapes and
//       dtypes; in portable mode on CUDA it also has the CPU's bits;
//   (b) batch invariance: each row of a batch of M (1 .. 4096, rows drawn at random from a pool:
//       random neighbours and positions) has the bits it has alone (tests/kernels/invariance.h); on
//       the CPU the whole pool also has the same bits at 1 and 3 threads.
// BackendOps.EveryRegisteredOverloadHasExactlyOneRow ties the table to registered_overloads(), so
// an op added to ops.def without a row fails; BackendOps.StockFailsTheInvarianceCheck runs (b) with
// the mode off, where the stock kernels must fail it (the check can fail). The CUDA rows skip
// without a GPU or without the CUDA kernels. Adding an op: kernels/README.md, "Adding an op".
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/mode.h"
#include "kernels/registered.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

using Inputs = std::vector<at::Tensor>;   // an undefined tensor is an absent optional (a mask)
using Outputs = std::vector<at::Tensor>;  // an undefined one is not compared

// How input 0, the rows, lies in memory (the values are the same): contiguous; transposed
// (column-major in its last two dims); padded (a slice of rows 3 wider); strided (every other
// element of its last dim).
enum class Layout { contiguous, transposed, padded, strided };

// Under ASan or TSan (ci/sanitize.sh) the batches stop at 160: the sanitizers look for memory and
// thread errors, which the smaller batches reach too, and the full sizes cost CI ~2 minutes there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kLargestM = 160;
#else
constexpr int64_t kLargestM = 4096;
#endif

// The batch sizes of the invariance check up to max_m: the ragged 1..512 and 1024, 4096.
std::vector<int64_t> up_to(int64_t max_m) {
  max_m = std::min(max_m, kLargestM);
  std::vector<int64_t> ms;
  for (int64_t m : testing::ragged_batch_sizes())
    if (m <= max_m) ms.push_back(m);
  for (int64_t m : {1024, 4096})
    if (m <= max_m) ms.push_back(m);
  return ms;
}

struct Shape {
  std::vector<int64_t> dims;  // what the row makes of them: row ops {n}, mm {K, N}, bmm {B, K, N}, ...
  int variant = 0;            // likewise: B's layout for GEMMs, the mask for attention, ...
  Layout layout = Layout::contiguous;
  std::vector<int64_t> ms = up_to(512);  // batch sizes of (b); empty: a row depends on its position
  int64_t pool = 40;                     // rows (b) draws from; (a) runs M = 1, 7, 33 and this
};

using Tolerance = std::function<double(at::ScalarType, const Shape&)>;

// Modes a row is checked in, and the dtypes of each. kHalf rows run on CUDA only: lockstep's CPU
// kernels take fp32 and bf16 (kernels/backends.h), fp16 stays stock there.
struct Support {
  Mode mode;
  std::vector<at::ScalarType> dtypes;
};

struct OpRow {
  std::string overload;  // as in kernels/ops.def
  std::function<Inputs(const Shape&, at::ScalarType, int64_t rows, at::Generator&)> make;  // on the CPU
  std::function<Outputs(const Inputs&, const Shape&)> call;  // the public aten call
  std::vector<Shape> shapes;
  std::vector<Support> modes;
  Tolerance tolerance;
  // The inputs whose result, in float64, is the size an error is measured against, element by
  // element (sum: |x|, so a sum near 0 is judged against sum |x|); unset: each output row's
  // largest reference value.
  std::function<Inputs(const Inputs&)> magnitude = {};
  int64_t row_dim = 0;     // where the rows are in input 0 (and in every row input, every output)
  int row_inputs = 1;      // inputs 0 .. row_inputs-1 hold the rows
  bool sampled = false;    // a random sample: no float64 value to compare, (b) only
};

const at::ScalarType f32 = at::kFloat, bf16 = at::kBFloat16, f16 = at::kHalf;
const std::vector<at::ScalarType> kOurDtypes = {f32, bf16, f16};
const std::vector<Support> kInvariantAndPortable = {{Mode::batch_invariant, kOurDtypes}, {Mode::portable, {f32}}};
const std::vector<Support> kInvariantOnly = {{Mode::batch_invariant, kOurDtypes}};

double output_rounding(at::ScalarType t) {
  return t == bf16 ? std::ldexp(1.0, -8) : t == f16 ? std::ldexp(1.0, -10) : 0.0;
}

Tolerance per_dtype(double fp32, double bf16_tol, double fp16_tol) {
  return [=](at::ScalarType t, const Shape&) { return t == bf16 ? bf16_tol : t == f16 ? fp16_tol : fp32; };
}

// A sum of n = dims[d] terms (a row, the keys of a query): 4e-6 (a few ulp), plus the classic
// bound of a sum in THE ORDER, (n/16 + 4) 2^-24 (16 lane chains of n/16 additions, a 4-level
// tree), plus one output rounding for bf16 and fp16.
Tolerance chain_tolerance(size_t d) {
  return [d](at::ScalarType t, const Shape& s) {
    return 4e-6 + (static_cast<double>(s.dims[d]) / 16 + 4) * std::ldexp(1.0, -24) + output_rounding(t);
  };
}

at::Tensor param(int64_t n, at::ScalarType t, at::Generator& g) { return (at::randn({n}, g) * 0.5 + 1.0).to(t); }

// Rows of very different scales (fp16: within its range), so that a kernel whose order depended
// on its neighbours would show it.
at::Tensor scaled_rows(int64_t m, int64_t n, at::ScalarType t, at::Generator& g) {
  const double spread = t == f16 ? 0.5 : 3.0;
  return (at::randn({m, n}, g) * at::exp(at::randn({m, 1}, g) * spread)).to(t);
}

// The same, each row shifted by 1 to 10 of its spreads (the mean dwarfs the spread, and layer_norm's
// mean output is measured against a value of its own size).
at::Tensor shifted_rows(int64_t m, int64_t n, at::ScalarType t, at::Generator& g) {
  const at::Tensor scale = at::exp(at::randn({m, 1}, g) * (t == f16 ? 0.5 : 3.0));
  const at::Tensor sign = at::where(at::rand({m, 1}, g) < 0.5, -1.0, 1.0);
  return ((at::randn({m, n}, g) + sign * (1 + 9 * at::rand({m, 1}, g))) * scale).to(t);
}

// Values over the whole useful range of silu and sigmoid: half N(0, 4^2), half uniform in
// [-100, 100] (where they saturate and their tails underflow).
at::Tensor unary_rows(int64_t m, int64_t n, at::ScalarType t, at::Generator& g) {
  const at::Tensor wide = at::rand({m, n}, g) * 200 - 100;
  return at::where(at::rand({m, n}, g) < 0.5, at::randn({m, n}, g) * 4, wide).to(t);
}

Inputs abs_of(const Inputs& in) {
  Inputs out;
  for (const at::Tensor& t : in) out.push_back(t.defined() ? t.abs() : t);
  return out;
}

std::vector<Shape> row_op_shapes() {
  // n: a single lane, tails of every kind, SmolLM2's hidden size (576), a row past 4096, its
  // vocabulary (49152); other layouts of the rows.
  return {{{1}, 0, Layout::contiguous, up_to(4096)},
          {{7}},
          {{15}},
          {{16}},
          {{17}},
          {{100}},
          {{576}, 0, Layout::contiguous, up_to(4096)},
          {{1000}},
          {{4097}, 0, Layout::contiguous, up_to(64)},
          {{49152}, 0, Layout::contiguous, up_to(16)},
          {{576}, 0, Layout::transposed},
          {{100}, 0, Layout::padded},
          {{33}, 0, Layout::strided}};
}

std::vector<Shape> unary_shapes() {
  return {{{1}}, {{15}}, {{37}}, {{1536}}, {{130}, 0, Layout::transposed}, {{37}, 0, Layout::strided}};
}

// GEMM variants: how B [K, N] lies in memory.
enum GemmB { kLinear = 0, kRowMajor = 1, kPaddedW = 2 };  // W.t() (nn.Linear); [K, N]; W a slice

at::Tensor gemm_b(std::vector<int64_t> batch, int64_t K, int64_t N, int variant, at::ScalarType t,
                  at::Generator& g) {
  std::vector<int64_t> shape = batch;
  shape.insert(shape.end(), {N, K + (variant == kPaddedW ? 5 : 0)});
  const at::Tensor w = at::randn(shape, g).to(t).narrow(-1, 0, K);
  return variant == kRowMajor ? w.transpose(-1, -2).contiguous() : w.transpose(-1, -2);
}

const std::vector<int64_t> kFewMs = {1, 2, 7, 16, 33, 64, 128, 257};

std::vector<Shape> mm_shapes() {
  return {
      // SmolLM2-135M projections (hidden 576, kv 192, mlp 1536, vocabulary 49152).
      {{576, 576}}, {{576, 192}}, {{576, 1536}}, {{1536, 576}},
      {{576, 49152}, kLinear, Layout::contiguous, kFewMs},
      // Odd and tiny K and N: tails, clamped edge tiles.
      {{1, 37}}, {{1, 3}}, {{7, 5}}, {{7, 19}}, {{17, 1}}, {{1000, 97}}, {{1000, 64}},
      {{4096, 33}, kLinear, Layout::contiguous, kFewMs},
      // Other layouts of B and of A.
      {{576, 192}, kRowMajor}, {{100, 70}, kRowMajor}, {{100, 50}, kLinear, Layout::transposed},
      {{576, 64}, kPaddedW, Layout::padded}, {{33, 40}, kPaddedW, Layout::padded},
      {{65, 30}, kLinear, Layout::strided}};
}

// Attention variants: the mask.
enum AttentionMask { kNoMask = 0, kCausal = 1, kBoolMask = 2, kAdditiveMask = 3 };

std::vector<Shape> sdpa_shapes() {
  // {Hq, Hkv, D, Tk}: SmolLM2's 9 query / 3 kv heads of 64, key lengths around the split
  // boundaries (256, 512, 1024), a head dim with a tail (80), a wider one (128). Masks on two of
  // them; is_causal (a query's result depends on its position: (a) only) over a whole prefill.
  std::vector<Shape> shapes;
  for (const std::vector<int64_t>& d : std::vector<std::vector<int64_t>>{
           {9, 3, 64, 1}, {9, 3, 64, 255}, {9, 3, 64, 257}, {9, 3, 64, 1100}, {4, 4, 80, 513}, {8, 2, 128, 300}})
    shapes.push_back({d, kNoMask, Layout::contiguous, up_to(33)});
  for (const std::vector<int64_t>& d : std::vector<std::vector<int64_t>>{{9, 3, 64, 257}, {8, 2, 128, 300}})
    for (int mask : {kBoolMask, kAdditiveMask}) shapes.push_back({d, mask, Layout::contiguous, up_to(33)});
  for (const std::vector<int64_t>& d : std::vector<std::vector<int64_t>>{{9, 3, 64, 257}, {4, 4, 80, 513}})
    shapes.push_back({d, kCausal, Layout::contiguous, {}, d[3]});
  shapes.push_back({{9, 3, 64, 257}, kNoMask, Layout::transposed, up_to(33)});
  return shapes;
}

const std::vector<OpRow>& table() {
  static const std::vector<OpRow> rows = [] {
    const auto x_only = [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
      return Inputs{scaled_rows(m, s.dims[0], t, g)};
    };
    const auto unary = [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
      return Inputs{unary_rows(m, s.dims[0], t, g)};
    };
    // The elementwise ops: a few ulp of each element (magnitude: the inputs themselves).
    const Tolerance unary_tolerance = per_dtype(4e-7, 1.0 / 256 + 1e-6, 1.0 / 1024 + 1e-6);
    const auto same = [](const Inputs& in) { return in; };
    const auto in_place = [](at::Tensor& (*f)(at::Tensor&)) {
      return [f](const Inputs& in, const Shape&) {
        at::Tensor x = in[0].clone();
        return Outputs{f(x)};
      };
    };
    const double beta = -1.5, alpha = 0.75;
    return std::vector<OpRow>{
        {"mm",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           return Inputs{at::randn({m, s.dims[0]}, g).to(t), gemm_b({}, s.dims[0], s.dims[1], s.variant, t, g)};
         },
         [](const Inputs& in, const Shape&) { return Outputs{at::mm(in[0], in[1])}; }, mm_shapes(),
         kInvariantAndPortable, chain_tolerance(0), abs_of},  // K terms, against |a| |b|
        {"addmm",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           return Inputs{at::randn({m, s.dims[0]}, g).to(t), gemm_b({}, s.dims[0], s.dims[1], s.variant, t, g),
                         at::randn({s.dims[1]}, g).to(t)};
         },
         [=](const Inputs& in, const Shape&) { return Outputs{at::addmm(in[2], in[0], in[1], beta, alpha)}; },
         {{{576, 576}}, {{576, 192}}, {{17, 23}, kRowMajor}, {{7, 5}, kLinear, Layout::transposed}},
         kInvariantAndPortable, chain_tolerance(0),
         // against alpha |a| |b| + |beta| |bias| (beta < 0)
         [](const Inputs& in) { return Inputs{in[0].abs(), in[1].abs(), -in[2].abs()}; }},
        {"bmm",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           return Inputs{at::randn({s.dims[0], m, s.dims[1]}, g).to(t),
                         gemm_b({s.dims[0]}, s.dims[1], s.dims[2], s.variant, t, g)};
         },
         [](const Inputs& in, const Shape&) { return Outputs{at::bmm(in[0], in[1])}; },
         {{{3, 64, 64}}, {{3, 100, 64}, kRowMajor}, {{3, 64, 100}}, {{2, 33, 7}, kLinear, Layout::transposed}},
         kInvariantAndPortable, chain_tolerance(1), abs_of, /*row_dim=*/1},
        {"_softmax", x_only, [](const Inputs& in, const Shape&) { return Outputs{at::_softmax(in[0], -1, false)}; },
         row_op_shapes(), kInvariantAndPortable, chain_tolerance(0)},
        {"_log_softmax", x_only,
         [](const Inputs& in, const Shape&) { return Outputs{at::_log_softmax(in[0], -1, false)}; }, row_op_shapes(),
         kInvariantAndPortable, chain_tolerance(0)},
        {"sum.dim_IntList", x_only,
         [](const Inputs& in, const Shape&) { return Outputs{at::sum(in[0], at::IntArrayRef{-1})}; },
         row_op_shapes(), kInvariantAndPortable, chain_tolerance(0), abs_of},
        {"mean.dim", x_only,
         [](const Inputs& in, const Shape&) { return Outputs{at::mean(in[0], at::IntArrayRef{-1}, true)}; },
         row_op_shapes(), kInvariantAndPortable, chain_tolerance(0), abs_of},
        {"native_layer_norm",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           const int64_t n = s.dims[0];
           return Inputs{shifted_rows(m, n, t, g), param(n, t, g), param(n, t, g)};
         },
         [](const Inputs& in, const Shape&) {
           auto [y, mean, rstd] = at::native_layer_norm(in[0], {in[0].size(-1)}, in[1], in[2], 1e-5);
           return Outputs{y, mean, rstd};
         },
         row_op_shapes(), kInvariantOnly, chain_tolerance(0)},  // portable mode refuses GPT-2's norm
        {"_fused_rms_norm",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           return Inputs{scaled_rows(m, s.dims[0], t, g), param(s.dims[0], t, g)};
         },
         [](const Inputs& in, const Shape&) {
           auto [y, rstd] = at::_fused_rms_norm(in[0], {in[0].size(-1)}, in[1], 1e-6);
           return Outputs{y, rstd};  // portable mode: no rstd (undefined)
         },
         row_op_shapes(), kInvariantAndPortable, chain_tolerance(0)},
        {"rms_norm",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           return Inputs{scaled_rows(m, s.dims[0], t, g), param(s.dims[0], t, g)};
         },
         [](const Inputs& in, const Shape&) { return Outputs{at::rms_norm(in[0], {in[0].size(-1)}, in[1], 1e-6)}; },
         row_op_shapes(), kInvariantAndPortable, chain_tolerance(0)},
        // q [Hq, M, D] and the mask [1, M, Tk] hold the rows (query positions); k, v [Hkv, Tk, D].
        // The mask always lets a query see key 0 (a fully masked row has no float64 reference).
        {"scaled_dot_product_attention",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           const int64_t hq = s.dims[0], hkv = s.dims[1], d = s.dims[2], tk = s.dims[3];
           at::Tensor mask;
           if (s.variant == kBoolMask) mask = (at::rand({1, m, tk}, g) > 0.3).index_fill_(-1, at::zeros({1}, at::kLong), true);
           if (s.variant == kAdditiveMask) mask = (at::randn({1, m, tk}, g) * 2).to(t);
           return Inputs{at::randn({hq, m, d}, g).to(t), mask, at::randn({hkv, tk, d}, g).to(t),
                         at::randn({hkv, tk, d}, g).to(t)};
         },
         [](const Inputs& in, const Shape& s) {
           const std::optional<at::Tensor> mask = in[1].defined() ? std::optional<at::Tensor>(in[1]) : std::nullopt;
           return Outputs{at::scaled_dot_product_attention(in[0], in[2], in[3], mask, 0.0, s.variant == kCausal,
                                                           std::nullopt, in[0].size(-3) != in[2].size(-3))};
         },
         sdpa_shapes(), kInvariantAndPortable, chain_tolerance(3),
         // against sum_j p_j |v_j|: the size of what the weighted sum adds up
         [](const Inputs& in) { return Inputs{in[0], in[1], in[2], in[3].abs()}; }, /*row_dim=*/1,
         /*row_inputs=*/2},
        {"rsqrt",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           return Inputs{(scaled_rows(m, s.dims[0], at::kFloat, g).abs() + 1e-3).to(t)};
         },
         [](const Inputs& in, const Shape&) { return Outputs{at::rsqrt(in[0])}; }, unary_shapes(),
         kInvariantAndPortable, unary_tolerance, same},
        // Probabilities with zeros; variant 0: 4 samples with replacement, 1: 3 without.
        {"multinomial",
         [](const Shape& s, at::ScalarType t, int64_t m, at::Generator& g) {
           const at::Tensor p = at::rand({m, s.dims[0]}, g) * (at::rand({m, s.dims[0]}, g) > 0.3);
           const int64_t positive = std::min<int64_t>(3, s.dims[0]);  // enough to draw 3 without replacement
           return Inputs{p.index_fill_(-1, at::arange(positive), 0.5).to(t)};
         },
         [](const Inputs& in, const Shape& s) {
           at::manual_seed(2024);  // the same draws for a row alone and for the batch
           return Outputs{at::multinomial(in[0], s.variant == 0 ? 4 : 3, s.variant == 0)};
         },
         {{{1}}, {{7}}, {{7}, 1}, {{1000}}, {{1000}, 1}, {{49152}, 0, Layout::contiguous, up_to(16)},
          {{100}, 0, Layout::strided}},
         {{Mode::batch_invariant, kOurDtypes}},  // portable mode keeps the stock sampler
         /*tolerance=*/{}, /*magnitude=*/{}, /*row_dim=*/0, /*row_inputs=*/1, /*sampled=*/true},
        {"silu", unary, [](const Inputs& in, const Shape&) { return Outputs{at::silu(in[0])}; }, unary_shapes(),
         kInvariantAndPortable, unary_tolerance, same},
        {"silu_", unary, in_place(at::silu_), unary_shapes(), kInvariantAndPortable, unary_tolerance, same},
        {"sigmoid", unary, [](const Inputs& in, const Shape&) { return Outputs{at::sigmoid(in[0])}; },
         unary_shapes(), kInvariantAndPortable, unary_tolerance, same},
        {"sigmoid_", unary, in_place(at::sigmoid_), unary_shapes(), kInvariantAndPortable, unary_tolerance, same},
    };
  }();
  return rows;
}

// Known gaps: (a) or (b) fails here because of a bug in kernels/, not in the table. The loop skips
// them with a note; the fix deletes the line.
struct Gap {
  const char* checks;  // "a", "b" or "ab"
  const char* overload;
  Mode mode;
  at::ScalarType dtype;
  bool cuda;
  std::vector<int64_t> dims;  // empty: every shape
  const char* why;
};
const std::vector<Gap> kGaps = {
    {"b", "mm", Mode::batch_invariant, f16, true, {100, 70},
     "H100, 2026-12-07: fp16, row-major B [100, 70] (rows of 140 bytes): row 2 of a batch of 5 differs from "
     "the row alone by 1 ulp"},
};

const Gap* known_gap(char check, const OpRow& row, Mode mode, at::ScalarType t, bool cuda, const Shape& s) {
  for (const Gap& gap : kGaps)
    if (std::string(gap.checks).find(check) != std::string::npos && row.overload == gap.overload &&
        mode == gap.mode && t == gap.dtype && cuda == gap.cuda && (gap.dims.empty() || gap.dims == s.dims))
      return &gap;
  return nullptr;
}

// ---- the loop ----------------------------------------------------------------------------------

at::Tensor lay_out(const at::Tensor& x, Layout layout) {
  switch (layout) {
    case Layout::contiguous: return x.contiguous();
    case Layout::transposed: return x.transpose(-1, -2).contiguous().transpose(-1, -2);
    case Layout::padded: return at::constant_pad_nd(x, {0, 3}).narrow(-1, 0, x.size(-1));
    case Layout::strided: return at::repeat_interleave(x, 2, -1).slice(-1, 0, 2 * x.size(-1), 2);
  }
  return x;
}

Inputs on(const Inputs& in, at::Device device) {
  Inputs out;
  for (const at::Tensor& t : in) out.push_back(t.defined() ? t.to(device) : t);
  return out;
}

Inputs float64_cpu(const Inputs& in) {
  Inputs out;
  for (const at::Tensor& t : in)
    out.push_back(t.defined() && at::isFloatingType(t.scalar_type()) ? t.cpu().to(at::kDouble) : t.defined() ? t.cpu() : t);
  return out;
}

std::string describe(const OpRow& row, Mode mode, at::ScalarType t, at::Device device, const Shape& s) {
  std::ostringstream o;
  o << row.overload << " " << mode_name(mode) << " " << c10::toString(t) << " " << device << " dims";
  for (int64_t d : s.dims) o << " " << d;
  o << " variant " << s.variant << " layout " << static_cast<int>(s.layout);
  return o.str();
}

uint64_t seed_of(const OpRow& row, const Shape& s, at::ScalarType t) {
  uint64_t h = std::hash<std::string>{}(row.overload) ^ static_cast<uint64_t>(t) * 0x9e3779b97f4a7c15ull;
  for (int64_t d : s.dims) h = h * 1000003 + static_cast<uint64_t>(d);
  return h * 31 + static_cast<uint64_t>(s.variant) * 7 + static_cast<uint64_t>(s.layout);
}

Outputs run(const OpRow& row, const Inputs& in, const Shape& s, Mode mode) {
  const ModeGuard guard(mode);
  return row.call(in, s);
}

// The largest error of `got` against `ref` (both [.., rows at row_dim, ..]), each element's error
// divided by |scale| (an element's own size), or by its row's largest |ref| where scale is undefined;
// sizes below the smallest normal of got's dtype count as that (fp16 results underflow early).
double max_error(const at::Tensor& got, const at::Tensor& ref, const at::Tensor& scale, int64_t row_dim) {
  const at::Tensor diff = (got.cpu().to(at::kDouble) - ref).abs();
  const double floor = got.scalar_type() == f16 ? std::ldexp(1.0, -14) : 1e-30;
  if (scale.defined()) return (diff / scale.abs().clamp_min(floor)).max().item<double>();
  const int64_t m = ref.size(row_dim);
  const at::Tensor rows = ref.movedim(row_dim, 0).reshape({m, -1}).abs().amax(1, true).clamp_min(floor);
  return (diff.movedim(row_dim, 0).reshape({m, -1}) / rows).max().item<double>();
}

// The first m rows of every row input.
Inputs first_rows(const OpRow& row, Inputs in, int64_t m) {
  for (int i = 0; i < row.row_inputs; ++i)
    if (in[i].defined()) in[i] = in[i].narrow(row.row_dim, 0, m);
  return in;
}

// (a) for batches of M = 1, 7, 33 and the pool's size: the first M rows of one set of inputs.
void expect_agreement(const OpRow& row, Mode mode, at::ScalarType t, at::Device device, const Shape& s) {
  const std::vector<int64_t> ms = {1, 7, 33, s.pool};
  at::Generator g = at::detail::createCPUGenerator(seed_of(row, s, t));
  const Inputs made = row.make(s, t, *std::max_element(ms.begin(), ms.end()), g);
  const Inputs in64 = float64_cpu(made);
  const Inputs magnitude64 = row.magnitude ? row.magnitude(in64) : Inputs{};
  for (int64_t m : ms) {
    Inputs cpu_in = first_rows(row, made, m);
    cpu_in[0] = lay_out(cpu_in[0], s.layout);
    const Inputs in = on(cpu_in, device);
    const Outputs got = run(row, in, s, mode);
    const Outputs stock = run(row, in, s, Mode::off);
    ASSERT_EQ(got.size(), stock.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (!got[i].defined()) continue;
      EXPECT_EQ(got[i].sizes(), stock[i].sizes()) << "output " << i << " M=" << m;
      EXPECT_EQ(got[i].scalar_type(), stock[i].scalar_type()) << "output " << i << " M=" << m;
    }
    if (mode == Mode::portable && device.is_cuda()) {
      const Outputs cpu_got = run(row, cpu_in, s, mode);
      for (size_t i = 0; i < got.size(); ++i)
        if (got[i].defined()) {
          EXPECT_TRUE(testing::bits_equal(got[i], cpu_got[i])) << "CUDA vs CPU, output " << i << " M=" << m;
        }
    }
    if (row.sampled) continue;
    const Outputs ref = run(row, first_rows(row, in64, m), s, Mode::off);
    const Outputs scale = row.magnitude ? run(row, first_rows(row, magnitude64, m), s, Mode::off) : Outputs(ref.size());
    const double tolerance = row.tolerance(t, s);
    for (size_t i = 0; i < got.size(); ++i) {
      if (!got[i].defined()) continue;
      EXPECT_LE(max_error(got[i], ref[i], scale[i], row.row_dim), tolerance) << "output " << i << " M=" << m;
    }
  }
}

// (b): the rows are drawn from a pool by index, so every row input (q and its mask) follows them.
::testing::AssertionResult invariance(const OpRow& row, Mode mode, at::ScalarType t, at::Device device,
                                      const Shape& s) {
  at::Generator g = at::detail::createCPUGenerator(seed_of(row, s, t));
  const Inputs pool = on(row.make(s, t, s.pool, g), device);
  const testing::RowOp op = [&](const at::Tensor& index) {
    Inputs in = pool;
    const at::Tensor rows = index.to(device);
    for (int i = 0; i < row.row_inputs; ++i)
      if (in[i].defined()) in[i] = pool[i].index_select(row.row_dim, rows);
    in[0] = lay_out(in[0], s.layout);
    std::vector<at::Tensor> parts;
    for (const at::Tensor& out : run(row, in, s, mode))
      if (out.defined()) parts.push_back(out.movedim(row.row_dim, 0).reshape({index.size(0), -1}));
    if (parts.size() == 1) return parts[0];
    for (at::Tensor& p : parts) p = p.to(at::kDouble);  // exact for every dtype here
    return at::cat(parts, 1);
  };
  const at::Tensor all = at::arange(s.pool, at::kLong);
  ::testing::AssertionResult verdict = testing::check_rows_invariant(op, all, s.ms);
  if (!verdict || !device.is_cpu()) return verdict;
  // The CPU: the pool has the same bits at 1 and 3 threads (chunks off every power of two) as at
  // the default count the sweep ran at.
  const at::Tensor want = op(all);
  for (int threads : {1, 3}) {
    testing::ThreadCount n(threads);
    const std::string why = testing::first_bit_mismatch(op(all), want);
    if (!why.empty()) {
      return ::testing::AssertionFailure() << "the pool at " << threads << " threads vs " << n.saved << ": " << why;
    }
  }
  return ::testing::AssertionSuccess();
}

std::string test_name(const std::string& overload) {
  std::string name = overload;
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

struct Case {
  size_t row;
  bool cuda;
};

void PrintTo(const Case& c, std::ostream* os) { *os << table()[c.row].overload << (c.cuda ? " on CUDA" : " on the CPU"); }

class BackendOpsTable : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!GetParam().cuda) return;
#ifdef LOCKSTEP_WITH_CUDA
    if (!at::globalContext().hasCUDA()) GTEST_SKIP() << "no CUDA device";
#else
    GTEST_SKIP() << "built without the CUDA kernels";
#endif
  }
  const OpRow& row() const { return table()[GetParam().row]; }
  at::Device device() const { return GetParam().cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU); }

  // Every mode x dtype x shape of the row on this device but the known gaps of `check` ('a', 'b').
  void for_each(char check_name, const std::function<void(Mode, at::ScalarType, const Shape&)>& check) const {
    for (const Support& support : row().modes)
      for (at::ScalarType t : support.dtypes) {
        if (t == f16 && !GetParam().cuda) continue;
        const Gap* noted = nullptr;
        for (const Shape& s : row().shapes) {
          SCOPED_TRACE(describe(row(), support.mode, t, device(), s));
          if (const Gap* gap = known_gap(check_name, row(), support.mode, t, GetParam().cuda, s)) {
            if (gap != noted) {
              std::cout << "[ known gap (" << check_name << ") ] " << describe(row(), support.mode, t, device(), s)
                        << (gap->dims.empty() ? " and every shape" : "") << ": " << gap->why << "\n";
            }
            noted = gap;
            continue;
          }
          check(support.mode, t, s);
        }
      }
  }
};

TEST_P(BackendOpsTable, AgreesWithFloat64) {
  for_each('a', [&](Mode mode, at::ScalarType t, const Shape& s) {
    expect_agreement(row(), mode, t, device(), s);
  });
}

TEST_P(BackendOpsTable, RowsAreBatchInvariant) {
  for_each('b', [&](Mode mode, at::ScalarType t, const Shape& s) {
    if (!s.ms.empty()) {
      EXPECT_TRUE(invariance(row(), mode, t, device(), s));
    }
  });
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (size_t i = 0; i < table().size(); ++i)
    for (bool cuda : {false, true}) cases.push_back({i, cuda});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Ops, BackendOpsTable, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return test_name(table()[info.param.row].overload) + (info.param.cuda ? "_cuda" : "_cpu");
                         });

// Adding an op to ops.def without a row here fails; so does a row for an overload not registered.
TEST(BackendOps, EveryRegisteredOverloadHasExactlyOneRow) {
  std::map<std::string, int> rows;
  for (const OpRow& row : table()) ++rows[row.overload];
  const std::set<std::string> registered(registered_overloads().begin(), registered_overloads().end());
  for (const std::string& overload : registered)
    EXPECT_EQ(rows[overload], 1) << overload << " (kernels/ops.def) needs exactly one row in the table";
  for (const auto& [overload, n] : rows)
    EXPECT_EQ(registered.count(overload), 1u) << "a row for " << overload << ", which kernels/ops.def does not list";
}

// The negative control: with the mode off the stock kernels fail check (b) somewhere, so (b) can
// fail. On the CPU stock fp32 mm (kernels/STOCK-DRIFT.md: row 0 differs for every M >= 2), stock multinomial
// (a row's draws depend on the rows before it) and stock silu (its vector body and its scalar tail
// round differently, kernels/cpu/elementwise.cpp); on CUDA cuBLAS mm and the stock sum (kernels/STOCK-DRIFT.md).
TEST(BackendOps, StockFailsTheInvarianceCheck) {
  std::vector<std::pair<std::string, at::Device>> drifting = {
      {"mm", at::kCPU}, {"multinomial", at::kCPU}, {"silu", at::kCPU}};
#ifdef LOCKSTEP_WITH_CUDA
  if (at::globalContext().hasCUDA()) drifting.insert(drifting.end(), {{"mm", at::kCUDA}, {"sum.dim_IntList", at::kCUDA}});
#endif
  for (const auto& [overload, device] : drifting) {
    const auto row = std::find_if(table().begin(), table().end(), [&](const OpRow& r) { return r.overload == overload; });
    ASSERT_NE(row, table().end()) << overload;
    std::string seen;
    for (const Shape& s : row->shapes) {
      if (s.ms.empty()) continue;
      const ::testing::AssertionResult verdict = invariance(*row, Mode::off, f32, device, s);
      if (!verdict) {
        seen = describe(*row, Mode::off, f32, device, s) + ": " + verdict.message();
        break;
      }
    }
    EXPECT_FALSE(seen.empty()) << "stock " << overload << " on " << device << " passed the invariance check at every shape";
    std::cout << "[ stock ] " << seen << "\n";
  }
}

}  // namespace
}  // namespace lockstep::kernels
