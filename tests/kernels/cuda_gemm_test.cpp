// CUDA GEMM family (kernels/cuda/gemm.cu): every row of a batch of M equals
// the same row computed alone, bit for bit, for M from 1 to 4096; accuracy
// against float64; stock cuBLAS drifts where kernels/STOCK-DRIFT.md says it does. All
// tests skip without a GPU.
#ifdef LOCKSTEP_WITH_CUDA

#include "kernels/cuda/cublaslt_pinned.h"
#include "kernels/cuda/gemm_fallback.h"
#include "kernels/cuda/gemm_small_m.h"
#include "tests/kernels/cuda_test_support.h"

namespace lockstep::kernels::cuda {
namespace {

// The batch sizes of kernels/STOCK-DRIFT.md, plus the ragged sweep of invariance.h.
std::vector<int64_t> batch_sizes(int64_t max_m) {
  std::vector<int64_t> ms = {1, 2, 3, 7, 16, 33, 64, 128, 257, 1024, 4096};
  for (int64_t m : testing::ragged_batch_sizes()) ms.push_back(m);
  std::vector<int64_t> kept;
  for (int64_t m : ms) {
    if (m <= max_m) kept.push_back(m);
  }
  return kept;
}

double tolerance(at::ScalarType t) { return testing::tolerance_of(t, 1e-5, 5e-3, 1e-2); }

struct GemmCase {
  const char* name;
  at::ScalarType dtype;
  int64_t n, k;
  bool weight_layout;  // B = W.t() with W [N, K] (nn.Linear); else B [K, N] row-major
  int64_t max_m;
};

// SmolLM2-135M and Llama-3-8B projection shapes, odd shapes, every dtype.
const std::vector<GemmCase>& gemm_cases() {
  static const std::vector<GemmCase> cases = {
      {"smol_qkv_bf16", at::kBFloat16, 576, 576, true, 4096},
      {"smol_kv_bf16", at::kBFloat16, 192, 576, true, 4096},
      {"smol_up_bf16", at::kBFloat16, 1536, 576, true, 4096},
      {"smol_down_bf16", at::kBFloat16, 576, 1536, true, 4096},
      {"llama_qo_bf16", at::kBFloat16, 4096, 4096, true, 4096},
      {"llama_kv_bf16", at::kBFloat16, 1024, 4096, true, 1024},
      {"llama_up_bf16", at::kBFloat16, 14336, 4096, true, 1024},
      {"llama_down_bf16", at::kBFloat16, 4096, 14336, true, 1024},
      {"smol_lm_head_bf16", at::kBFloat16, 49152, 576, true, 512},
      {"rowmajor_b_bf16", at::kBFloat16, 576, 576, false, 4096},
      {"smol_qkv_fp16", at::kHalf, 576, 576, true, 4096},
      {"llama_qo_fp16", at::kHalf, 4096, 4096, true, 1024},
      {"smol_qkv_fp32", at::kFloat, 576, 576, true, 4096},
      {"llama_qo_fp32", at::kFloat, 4096, 4096, true, 1024},
      {"rowmajor_b_fp32", at::kFloat, 1536, 576, false, 1024},
      {"odd_fp32", at::kFloat, 37, 13, false, 1024},
      {"odd_bf16", at::kBFloat16, 37, 13, true, 1024},
      {"odd_k_fp16", at::kHalf, 100, 7, true, 1024},
  };
  return cases;
}

at::Tensor make_b(const GemmCase& c, uint64_t seed) {
  at::manual_seed(seed);
  if (c.weight_layout) return at::randn({c.n, c.k}, cuda_opts(c.dtype)).t();
  return at::randn({c.k, c.n}, cuda_opts(c.dtype));
}

class CudaGemm : public ::testing::TestWithParam<GemmCase> {};

TEST_P(CudaGemm, RowsAreBatchInvariant) {
  SKIP_WITHOUT_GPU();
  const GemmCase& c = GetParam();
  const at::Tensor b = make_b(c, 1);
  const at::Tensor pool = at::randn({64, c.k}, cuda_opts(c.dtype));
  EXPECT_TRUE(check_rows_invariant([&](const at::Tensor& a) { return ours::mm(a, b); }, pool, batch_sizes(c.max_m)));
}

TEST_P(CudaGemm, AddmmRowsAreBatchInvariant) {
  SKIP_WITHOUT_GPU();
  const GemmCase& c = GetParam();
  const at::Tensor b = make_b(c, 2);
  const at::Tensor bias = at::randn({c.n}, cuda_opts(c.dtype));
  const at::Tensor pool = at::randn({48, c.k}, cuda_opts(c.dtype));
  EXPECT_TRUE(check_rows_invariant([&](const at::Tensor& a) { return ours::addmm(bias, a, b, 1.0, 1.0); }, pool,
                                   batch_sizes(std::min<int64_t>(c.max_m, 1024))));
}

TEST_P(CudaGemm, MatchesFloat64) {
  SKIP_WITHOUT_GPU();
  const GemmCase& c = GetParam();
  const at::Tensor b = make_b(c, 3);
  const at::Tensor bias = at::randn({c.n}, cuda_opts(c.dtype));
  for (int64_t m : {int64_t{1}, int64_t{5}, int64_t{64}, int64_t{333}}) {
    const at::Tensor a = at::randn({m, c.k}, cuda_opts(c.dtype));
    const at::Tensor ref = at::mm(a.to(at::kDouble), b.to(at::kDouble));
    const at::Tensor got = ours::mm(a, b);
    ASSERT_EQ(got.scalar_type(), c.dtype);
    ASSERT_EQ(got.sizes(), (std::vector<int64_t>{m, c.n}));
    EXPECT_FALSE(got.isnan().any().item<bool>()) << "M=" << m;
    EXPECT_LT(relative_inf_error(got, ref), tolerance(c.dtype)) << "M=" << m;
    const at::Tensor ref_add = ref * 0.5 + bias.to(at::kDouble) * 2.0;
    EXPECT_LT(relative_inf_error(ours::addmm(bias, a, b, 2.0, 0.5), ref_add), tolerance(c.dtype)) << "addmm M=" << m;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaGemm, ::testing::ValuesIn(gemm_cases()),
                         [](const ::testing::TestParamInfo<GemmCase>& info) { return std::string(info.param.name); });

// The plan key of a bf16 nn.Linear weight [n, k] used as W^T (column-major,
// 16-byte aligned rows) on the current device.
gemm::PlanKey weight_key(int64_t n, int64_t k) {
  gemm::PlanKey key;
  key.device = static_cast<int>(at::cuda::current_device());
  key.dtype = static_cast<int>(at::kBFloat16);
  key.n = n;
  key.k = k;
  key.b_order = gemm::BOrder::col_major;
  key.b_ld = k;
  key.b_align = 16;
  return key;
}

TEST(CudaGemmPlan, StandardShapesUseCublasLt) {
  SKIP_WITHOUT_GPU();
  // Print the plans (the GPU run's log shows which algorithm serves which M).
  for (const GemmCase& c : gemm_cases()) {
    const at::Tensor b = make_b(c, 4);
    (void)ours::mm(at::randn({3, c.k}, cuda_opts(c.dtype)), b);
  }
  const std::string plans = gemm::describe_plans();
  std::cout << plans;
  const std::vector<std::string> rungs = gemm::plan_rung_signatures(weight_key(4096, 4096));
  ASSERT_EQ(rungs.size(), static_cast<size_t>(gemm::kNumRungs));
  for (const std::string& s : rungs) EXPECT_FALSE(s.empty()) << "bf16 4096x4096 must run pinned cuBLASLt";
}

// With LOCKSTEP_GEMM_SMALL_M=1 the decode kernel (gemm_small_m.cu) serves
// M <= 16 of the bf16 weight shapes above where its probe gave the plan's
// bits; RowsAreBatchInvariant then checks rows of M <= 16 (this kernel)
// against rows of M >= 33 (cuBLASLt) bit for bit. On the H100 the probe must
// pass for every such shape (kernels/bench/gemv_probe.cu measured the
// agreement), or that test checks nothing new. ci/gpu-perf.sh runs CudaGemm*
// both ways.
TEST(CudaGemmPlan, DecodeShapesRunTheSmallMKernelOnHopper) {
  SKIP_WITHOUT_GPU();
  const char* on = std::getenv("LOCKSTEP_GEMM_SMALL_M");
  if (on == nullptr || std::string(on) != "1") GTEST_SKIP() << "LOCKSTEP_GEMM_SMALL_M=1 turns the kernel on";
  const bool hopper = at::cuda::getCurrentDeviceProperties()->major == 9;
  int served = 0;
  for (const GemmCase& c : gemm_cases()) {
    if (c.dtype != at::kBFloat16 || !c.weight_layout) continue;
    const gemm::PlanKey key = weight_key(c.n, c.k);
    const bool fits = c.k % 64 == 0 && c.n % 8 == 0;
    const bool used = gemm::plan_uses_small_m(key);
    EXPECT_TRUE(!used || fits) << c.name << ": served a shape it does not fit";
    if (hopper && fits) {
      EXPECT_TRUE(used) << c.name << ": the small-M kernel's probe did not give the plan's bits";
    }
    served += used;
  }
  std::cout << "[ small-M ] " << served << " bf16 weight shapes run the small-M kernel at M <= 16\n";
}

// The engine's decode GEMMs (kernels/bench/gemv_probe.cu's shapes: fused
// q/k/v and gate/up as the engine loads them, o, down, head, unfused k/v of
// the 1.07B Llama and SmolLM2-135M): gemm_small_m's rows at every M = 1..16
// against cuBLASLt's pinned plan (the rows of M = 64, which every rung of the
// plan gives alike), bit for bit, called directly; and ours::mm at the same
// M, which runs the kernel with LOCKSTEP_GEMM_SMALL_M=1 (the plan must then
// use it on every such shape) and cuBLASLt's M rung without.
TEST(CudaGemmPlan, SmallMKernelHasThePlansBitsOnDecodeShapes) {
  SKIP_WITHOUT_GPU();
  if (at::cuda::getCurrentDeviceProperties()->major != 9) GTEST_SKIP() << "gemm_small_m runs on sm_90 only";
  const char* env = std::getenv("LOCKSTEP_GEMM_SMALL_M");
  const bool on = env != nullptr && std::string(env) == "1";
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  const std::vector<Shape> shapes = {{"1b_qkv", 3072, 2048},    {"1b_o", 2048, 2048},       {"1b_gate_up", 16384, 2048},
                                     {"1b_down", 2048, 8192},   {"1b_head", 49152, 2048},   {"1b_kv", 512, 2048},
                                     {"smol_qkv", 960, 576},    {"smol_o", 576, 576},       {"smol_gate_up", 3072, 576},
                                     {"smol_down", 576, 1536},  {"smol_head", 49152, 576},  {"smol_kv", 192, 576}};
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  int64_t checked = 0;
  for (const Shape& s : shapes) {
    at::manual_seed(11);
    const at::Tensor w = at::randn({s.n, s.k}, cuda_opts(at::kBFloat16));
    const at::Tensor pool = at::randn({64, s.k}, cuda_opts(at::kBFloat16));
    const at::Tensor plan_rows = ours::mm(pool, w.t());  // M = 64: cuBLASLt
    const gemm::PlanKey key = weight_key(s.n, s.k);
    if (on) {
      EXPECT_TRUE(gemm::plan_uses_small_m(key)) << s.name << ": the plan's probe rejected the small-M kernel";
    }
    for (int64_t m = 1; m <= gemm::kSmallMaxM; ++m) {
      const at::Tensor a = pool.narrow(0, 0, m);
      const at::Tensor want = plan_rows.narrow(0, 0, m);
      at::Tensor own = at::empty({m, s.n}, cuda_opts(at::kBFloat16));
      gemm::small_m_gemm(a.const_data_ptr(), s.k, w.const_data_ptr(), s.k, own.data_ptr(), m, s.n, s.k, stream);
      EXPECT_TRUE(bits_equal(own, want)) << s.name << " M=" << m << ": gemm_small_m called directly";
      EXPECT_TRUE(bits_equal(ours::mm(a, w.t()), want))
          << s.name << " M=" << m << ": ours::mm (" << (on ? "gemm_small_m" : "cuBLASLt's M rung") << ")";
      ++checked;
    }
  }
  std::cout << "[ small-M ] " << checked << " decode shapes x M compared with the plan's rows ("
            << (on ? "ours::mm runs gemm_small_m" : "ours::mm runs cuBLASLt") << ")\n";
}

TEST(CudaGemmLayouts, CopiedAGivesTheSameBits) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(5);
  const at::Tensor w = at::randn({576, 576}, cuda_opts(at::kBFloat16));
  const at::Tensor a = at::randn({40, 576}, cuda_opts(at::kBFloat16));
  const at::Tensor want = ours::mm(a, w.t());
  // A transposed in memory, and A at a 2-byte offset: both are copied to a
  // fresh row-major tensor, which must not change the algorithm or the bits.
  const at::Tensor a_t = a.t().contiguous().t();
  EXPECT_TRUE(bits_equal(ours::mm(a_t, w.t()), want));
  const at::Tensor wide = at::randn({40, 577}, cuda_opts(at::kBFloat16));
  wide.narrow(1, 1, 576).copy_(a);
  EXPECT_TRUE(bits_equal(ours::mm(wide.narrow(1, 1, 576), w.t()), want));
  // A row of a padded buffer (ld > K) keeps its bits too.
  const at::Tensor padded = at::zeros({40, 640}, cuda_opts(at::kBFloat16));
  padded.narrow(1, 0, 576).copy_(a);
  EXPECT_TRUE(bits_equal(ours::mm(padded.narrow(1, 0, 576), w.t()), want));
}

TEST(CudaGemmLayouts, StridedBIsCorrect) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(6);
  const at::Tensor big = at::randn({128, 200}, cuda_opts(at::kFloat));
  const at::Tensor b = big.slice(1, 0, 200, 2);  // [128, 100] with column stride 2
  const at::Tensor a = at::randn({9, 128}, cuda_opts(at::kFloat));
  const at::Tensor ref = at::mm(a.to(at::kDouble), b.to(at::kDouble));
  EXPECT_LT(relative_inf_error(ours::mm(a, b), ref), 1e-5);
}

TEST(CudaGemmEdges, EmptyAndZeroK) {
  SKIP_WITHOUT_GPU();
  const at::Tensor a0 = at::randn({0, 16}, cuda_opts(at::kBFloat16));
  const at::Tensor b = at::randn({16, 8}, cuda_opts(at::kBFloat16));
  EXPECT_EQ(ours::mm(a0, b).sizes(), (std::vector<int64_t>{0, 8}));
  const at::Tensor ak = at::randn({3, 0}, cuda_opts(at::kFloat));
  const at::Tensor bk = at::randn({0, 5}, cuda_opts(at::kFloat));
  EXPECT_TRUE(at::equal(ours::mm(ak, bk).cpu(), at::zeros({3, 5})));
  const at::Tensor bias = at::full({5}, 2.0f, cuda_opts(at::kFloat));
  EXPECT_TRUE(at::equal(ours::addmm(bias, ak, bk, 0.5, 1.0).cpu(), at::full({3, 5}, 1.0f)));
}

TEST(CudaGemmEdges, BetaZeroIgnoresNanBias) {
  SKIP_WITHOUT_GPU();
  const at::Tensor bias = at::full({8}, std::numeric_limits<float>::quiet_NaN(), cuda_opts(at::kFloat));
  const at::Tensor a = at::randn({4, 16}, cuda_opts(at::kFloat));
  const at::Tensor b = at::randn({16, 8}, cuda_opts(at::kFloat));
  EXPECT_FALSE(ours::addmm(bias, a, b, 0.0, 1.0).isnan().any().item<bool>());
}

TEST(CudaGemmEdges, Float64UsesTheOwnKernel) {
  SKIP_WITHOUT_GPU();
  const at::Tensor a = at::randn({17, 33}, cuda_opts(at::kDouble));
  const at::Tensor b = at::randn({33, 9}, cuda_opts(at::kDouble));
  EXPECT_LT(relative_inf_error(ours::mm(a, b), at::mm(a, b)), 1e-12);
}

TEST(CudaGemmFallback, InvariantAndAccurate) {
  SKIP_WITHOUT_GPU();
  for (at::ScalarType t : {at::kFloat, at::kBFloat16, at::kHalf}) {
    at::manual_seed(7);
    const at::Tensor w = at::randn({300, 130}, cuda_opts(t));  // B = w.t(): [130, 300]
    auto op = [&](const at::Tensor& a) {
      const at::Tensor b3 = w.t().unsqueeze(0);
      at::Tensor out = at::empty({1, a.size(0), 300}, a.options());
      gemm::fallback_gemm(a.unsqueeze(0), b3, out, 1.0, 0.0, false);
      return out.select(0, 0);
    };
    const at::Tensor pool = at::randn({40, 130}, cuda_opts(t));
    EXPECT_TRUE(check_rows_invariant(op, pool, batch_sizes(300))) << t;
    const at::Tensor a = at::randn({70, 130}, cuda_opts(t));
    EXPECT_LT(relative_inf_error(op(a), at::mm(a.to(at::kDouble), w.t().to(at::kDouble))), tolerance(t)) << t;
  }
}

TEST(CudaBmm, EachMatrixIsIndependentOfTheBatch) {
  SKIP_WITHOUT_GPU();
  for (at::ScalarType t : {at::kBFloat16, at::kFloat}) {
    at::manual_seed(8);
    const at::Tensor a = at::randn({12, 33, 64}, cuda_opts(t));
    const at::Tensor b = at::randn({12, 64, 128}, cuda_opts(t));
    const at::Tensor all = ours::bmm(a, b);
    for (int64_t i : {int64_t{0}, int64_t{5}, int64_t{11}}) {
      EXPECT_TRUE(bits_equal(all[i], ours::bmm(a.narrow(0, i, 1), b.narrow(0, i, 1))[0])) << t << " matrix " << i;
      // Rows too: one row of matrix i alone.
      EXPECT_TRUE(bits_equal(all[i].narrow(0, 7, 1), ours::bmm(a.narrow(0, i, 1).narrow(1, 7, 1), b.narrow(0, i, 1))[0]))
          << t << " matrix " << i;
    }
    const at::Tensor ref = at::bmm(a.to(at::kDouble), b.to(at::kDouble));
    EXPECT_LT(relative_inf_error(all, ref), tolerance(t)) << t;
  }
}

// Stock libtorch (mode off = at::mm straight to cuBLAS) is not batch-invariant:
// kernels/STOCK-DRIFT.md saw fp32 mm differ at every M >= 2 and bf16 mm at M = 16. At least
// one such drift must show here, or the invariance tests above prove nothing.
TEST(CudaGemmStock, DriftsWithBatchSize) {
  SKIP_WITHOUT_GPU();
  std::ostringstream seen;
  bool drift = false;
  auto probe = [&](const char* what, const at::Tensor& a, const at::Tensor& b, int64_t m) {
    const at::Tensor alone = at::mm(a.narrow(0, 0, 1), b);
    const at::Tensor batch = at::mm(a.narrow(0, 0, m), b).narrow(0, 0, 1);
    const bool differs = !bits_equal(batch, alone);
    drift = drift || differs;
    seen << what << " M=" << m << (differs ? " differs" : " same") << "; ";
  };
  // The linspace case of kernels/STOCK-DRIFT.md.
  const at::Tensor a = at::linspace(-100, 100, 2048 * 4096, cuda_opts(at::kFloat)).reshape({2048, 4096});
  const at::Tensor b = at::linspace(-100, 100, 4096 * 4096, cuda_opts(at::kFloat)).reshape({4096, 4096});
  for (int64_t m : {int64_t{2}, int64_t{16}, int64_t{2048}}) probe("fp32 mm", a, b, m);
  at::manual_seed(9);
  const at::Tensor ab = at::randn({64, 4096}, cuda_opts(at::kBFloat16));
  const at::Tensor bb = at::randn({4096, 4096}, cuda_opts(at::kBFloat16));
  for (int64_t m : {int64_t{16}, int64_t{64}}) probe("bf16 mm", ab, bb, m);
  std::cout << "stock drift: " << seen.str() << "\n";
  EXPECT_TRUE(drift) << "stock cuBLAS showed no batch drift: " << seen.str();
  // ... and ours does not drift on the very same inputs.
  EXPECT_TRUE(bits_equal(ours::mm(a, b).narrow(0, 0, 1), ours::mm(a.narrow(0, 0, 1), b)));
  EXPECT_TRUE(bits_equal(ours::mm(ab.narrow(0, 0, 16), bb).narrow(0, 0, 1), ours::mm(ab.narrow(0, 0, 1), bb)));
}

}  // namespace
}  // namespace lockstep::kernels::cuda
#endif  // LOCKSTEP_WITH_CUDA
