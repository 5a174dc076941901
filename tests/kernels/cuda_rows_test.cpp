// CUDA row kernels (softmax, log_softmax, sum, mean, layer_norm, rms_norm):
// a row inside any batch equals the row alone, bit for bit; accuracy against
// float64; aten's shapes and dtypes; stock sum drifting with the batch as
// kernels/STOCK-DRIFT.md saw. All tests skip without a GPU.
#ifdef LOCKSTEP_WITH_CUDA

#include <functional>

#include "tests/kernels/cuda_test_support.h"

namespace lockstep::kernels::cuda {
namespace {

double tolerance(at::ScalarType t) { return testing::tolerance_of(t, 1e-5, 2e-3, 1e-2); }

// One op of the table, on [M, L] rows: ours, and the float64 reference.
struct RowOp {
  const char* name;
  std::function<at::Tensor(const at::Tensor&)> ours;
  std::function<at::Tensor(const at::Tensor&)> reference;  // input already float64
};

std::vector<RowOp> row_ops(int64_t length, at::ScalarType t) {
  const at::Tensor w = at::randn({length}, cuda_opts(t));
  const at::Tensor b = at::randn({length}, cuda_opts(t));
  const at::Tensor wd = w.to(at::kDouble), bd = b.to(at::kDouble);
  const std::vector<int64_t> shape = {length};
  return {
      {"softmax", [](const at::Tensor& x) { return ours::softmax(x, -1, false); },
       [](const at::Tensor& x) { return at::softmax(x, -1); }},
      {"log_softmax", [](const at::Tensor& x) { return ours::log_softmax(x, -1, false); },
       [](const at::Tensor& x) { return at::log_softmax(x, -1); }},
      {"sum", [](const at::Tensor& x) { return ours::sum(x, std::vector<int64_t>{-1}, true, std::nullopt); },
       [](const at::Tensor& x) { return x.sum(-1, true); }},
      {"mean", [](const at::Tensor& x) { return ours::mean(x, std::vector<int64_t>{-1}, true, std::nullopt); },
       [](const at::Tensor& x) { return x.mean(-1, true); }},
      {"layer_norm",
       [=](const at::Tensor& x) { return std::get<0>(ours::layer_norm(x, shape, w, b, 1e-5)); },
       [=](const at::Tensor& x) { return at::layer_norm(x, shape, wd, bd, 1e-5); }},
      {"rms_norm", [=](const at::Tensor& x) { return std::get<0>(ours::rms_norm(x, shape, w, 1e-6)); },
       [=](const at::Tensor& x) { return x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * wd; }},
  };
}

struct RowCase {
  at::ScalarType dtype;
  int64_t length;
  int64_t max_m;
};

std::string case_name(const ::testing::TestParamInfo<RowCase>& info) {
  std::ostringstream s;
  s << c10::toString(info.param.dtype) << "_L" << info.param.length;
  return s.str();
}

class CudaRows : public ::testing::TestWithParam<RowCase> {};

TEST_P(CudaRows, RowsAreBatchInvariant) {
  SKIP_WITHOUT_GPU();
  const RowCase& c = GetParam();
  at::manual_seed(c.length);
  std::vector<int64_t> ms = {1, 2, 3, 7, 16, 33, 64, 128, 257, 1024, 4096};
  for (int64_t m : testing::ragged_batch_sizes()) ms.push_back(m);
  std::vector<int64_t> kept;
  for (int64_t m : ms) {
    if (m <= c.max_m) kept.push_back(m);
  }
  const at::Tensor pool = at::randn({48, c.length}, cuda_opts(c.dtype)) * 3;
  for (const RowOp& op : row_ops(c.length, c.dtype)) {
    EXPECT_TRUE(check_rows_invariant(op.ours, pool, kept)) << op.name;
  }
}

TEST_P(CudaRows, MatchesFloat64) {
  SKIP_WITHOUT_GPU();
  const RowCase& c = GetParam();
  at::manual_seed(c.length + 1);
  for (int64_t m : {int64_t{1}, int64_t{5}, int64_t{64}}) {
    const at::Tensor x = at::randn({m, c.length}, cuda_opts(c.dtype)) * 3;
    for (const RowOp& op : row_ops(c.length, c.dtype)) {
      const at::Tensor got = op.ours(x);
      ASSERT_EQ(got.scalar_type(), c.dtype) << op.name;
      EXPECT_FALSE(got.isnan().any().item<bool>()) << op.name << " M=" << m;
      const at::Tensor ref = op.reference(x.to(at::kDouble));
      EXPECT_LT(relative_inf_error(got, ref), tolerance(c.dtype)) << op.name << " M=" << m;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, CudaRows,
                         ::testing::Values(RowCase{at::kFloat, 1, 4096}, RowCase{at::kFloat, 7, 4096},
                                           RowCase{at::kFloat, 576, 4096}, RowCase{at::kFloat, 4096, 1024},
                                           RowCase{at::kFloat, 49152, 257}, RowCase{at::kBFloat16, 576, 4096},
                                           RowCase{at::kBFloat16, 4096, 1024}, RowCase{at::kBFloat16, 1000, 1024},
                                           RowCase{at::kBFloat16, 49152, 257}, RowCase{at::kHalf, 576, 4096},
                                           RowCase{at::kHalf, 4095, 1024}),
                         case_name);

TEST(CudaRowsSemantics, MatchStockShapesAndDtypes) {
  SKIP_WITHOUT_GPU();
  const at::Tensor x = at::randn({2, 3, 64}, cuda_opts(at::kBFloat16));
  const at::Tensor w = at::randn({64}, cuda_opts(at::kBFloat16));
  const auto mine = ours::layer_norm(x, {64}, w, w, 1e-5);
  const auto stock = at::native_layer_norm(x, {64}, w, w, 1e-5);
  for (int i = 0; i < 3; ++i) {
    const at::Tensor& o = i == 0 ? std::get<0>(mine) : i == 1 ? std::get<1>(mine) : std::get<2>(mine);
    const at::Tensor& s = i == 0 ? std::get<0>(stock) : i == 1 ? std::get<1>(stock) : std::get<2>(stock);
    EXPECT_EQ(o.sizes(), s.sizes()) << "layer_norm output " << i;
    EXPECT_EQ(o.scalar_type(), s.scalar_type()) << "layer_norm output " << i;
  }
  const auto rms = ours::rms_norm(x, {3, 64}, std::nullopt, std::nullopt);
  const auto rms_stock = at::_fused_rms_norm(x, {3, 64}, std::nullopt, std::nullopt);
  EXPECT_EQ(std::get<1>(rms).sizes(), std::get<1>(rms_stock).sizes());
  EXPECT_EQ(std::get<1>(rms).scalar_type(), std::get<1>(rms_stock).scalar_type());
  EXPECT_LT(relative_inf_error(std::get<0>(rms), std::get<0>(rms_stock)), 1e-2);

  // half_to_float exists for Half inputs only (stock CUDA rejects it for bf16).
  const at::Tensor xh = x.to(at::kHalf);
  const at::Tensor h = ours::softmax(xh, 1, true);
  EXPECT_EQ(h.scalar_type(), at::kFloat);
  EXPECT_LT(relative_inf_error(h, at::_softmax(xh, 1, true)), 1e-5);
  EXPECT_LT(relative_inf_error(ours::log_softmax(x, 0, false), at::_log_softmax(x, 0, false)), 1e-2);
  EXPECT_TRUE(ours::log_softmax(x, 0, false).is_contiguous());
}

TEST(CudaRowsSemantics, SumAndMeanOverDims) {
  SKIP_WITHOUT_GPU();
  const at::Tensor x = at::randn({4, 5, 6}, cuda_opts(at::kFloat));
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {0, 2}, {-1, 0}, {}};
  for (const auto& dims : dim_sets) {
    for (bool keep : {false, true}) {
      const at::Tensor s = ours::sum(x, dims, keep, std::nullopt);
      const at::Tensor ref = x.to(at::kDouble).sum(dims, keep);
      EXPECT_EQ(s.sizes(), ref.sizes());
      // fp32 sums of up to 120 terms: error <= n * eps * sum|x|, which is
      // up to ~1e-5 of the largest result when terms cancel; 1e-4 bounds it.
      EXPECT_LT(relative_inf_error(s, ref), 1e-4);
      EXPECT_LT(relative_inf_error(ours::mean(x, dims, keep, std::nullopt), x.to(at::kDouble).mean(dims, keep)), 1e-4);
    }
  }
  EXPECT_EQ(ours::sum(x, std::nullopt, false, std::nullopt).dim(), 0);
  const at::Tensor ints = at::randint(-50, 50, {7, 33}, cuda_opts(at::kInt));
  const at::Tensor isum = ours::sum(ints, std::vector<int64_t>{1}, false, std::nullopt);
  EXPECT_EQ(isum.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(isum.cpu(), ints.cpu().sum(1)));
  const at::Tensor flags = ints > 0;
  EXPECT_TRUE(at::equal(ours::sum(flags, std::vector<int64_t>{1}, false, std::nullopt).cpu(), flags.cpu().sum(1)));
  const at::Tensor bf = at::randn({3, 100}, cuda_opts(at::kBFloat16));
  const at::Tensor as_float = ours::sum(bf, std::vector<int64_t>{1}, false, at::kFloat);
  EXPECT_EQ(as_float.scalar_type(), at::kFloat);
  EXPECT_LT(relative_inf_error(as_float, bf.to(at::kDouble).sum(1)), 1e-5);
}

TEST(CudaRowsSemantics, SpecialValues) {
  SKIP_WITHOUT_GPU();
  const float inf = std::numeric_limits<float>::infinity();
  const at::Tensor x = at::tensor({1.0f, -inf, 2.0f, -inf}).to(at::kCUDA).reshape({1, 4});
  const at::Tensor s = ours::softmax(x, -1, false).cpu();
  EXPECT_EQ(s[0][1].item<float>(), 0.0f);
  EXPECT_NEAR(s[0][0].item<float>() + s[0][2].item<float>(), 1.0f, 1e-6);
  const at::Tensor all_inf = at::full({1, 5}, -inf, cuda_opts(at::kFloat));
  EXPECT_TRUE(ours::softmax(all_inf, -1, false).isnan().all().item<bool>());  // as aten
  const at::Tensor empty = at::randn({3, 0}, cuda_opts(at::kFloat));
  EXPECT_TRUE(ours::sum(empty, std::vector<int64_t>{1}, false, std::nullopt).eq(0).all().item<bool>());
  EXPECT_TRUE(ours::mean(empty, std::vector<int64_t>{1}, false, std::nullopt).isnan().all().item<bool>());
}

TEST(CudaRowsSemantics, MisalignedRowsGiveTheSameBits) {
  SKIP_WITHOUT_GPU();
  // A row read with 16-byte loads and the same row read element by element
  // (a 2-byte offset forbids vector loads) follow the same order.
  const at::Tensor x = at::randn({6, 577}, cuda_opts(at::kBFloat16));
  const at::Tensor aligned = x.narrow(1, 1, 576).contiguous();
  const at::Tensor shifted = x.narrow(1, 1, 576);  // rows start at odd element offsets
  EXPECT_TRUE(bits_equal(ours::softmax(shifted, -1, false), ours::softmax(aligned, -1, false)));
  EXPECT_TRUE(bits_equal(std::get<0>(ours::rms_norm(shifted, {576}, std::nullopt, 1e-6)),
                         std::get<0>(ours::rms_norm(aligned, {576}, std::nullopt, 1e-6))));
  EXPECT_TRUE(bits_equal(ours::sum(shifted, std::vector<int64_t>{1}, false, std::nullopt),
                         ours::sum(aligned, std::vector<int64_t>{1}, false, std::nullopt)));
}

// kernels/STOCK-DRIFT.md: stock fp32 sum(-1) on CUDA differs at M = 2 and 8. At least one
// drift must show, or the invariance tests above prove nothing.
TEST(CudaRowsStock, SumDriftsWithBatchSize) {
  SKIP_WITHOUT_GPU();
  std::ostringstream seen;
  bool drift = false;
  at::manual_seed(21);
  for (int64_t length : {int64_t{4096}, int64_t{49152}, int64_t{1000}, int64_t{100000}}) {
    const at::Tensor x = at::randn({64, length}, cuda_opts(at::kFloat));
    const at::Tensor alone = x.narrow(0, 0, 1).sum(-1);
    for (int64_t m : {int64_t{2}, int64_t{8}, int64_t{16}, int64_t{64}}) {
      const bool differs = !bits_equal(x.narrow(0, 0, m).sum(-1).narrow(0, 0, 1), alone);
      drift = drift || differs;
      seen << "L=" << length << " M=" << m << (differs ? " differs" : " same") << "; ";
      // Ours does not.
      EXPECT_TRUE(bits_equal(ours::sum(x.narrow(0, 0, m), std::vector<int64_t>{-1}, false, std::nullopt).narrow(0, 0, 1),
                             ours::sum(x.narrow(0, 0, 1), std::vector<int64_t>{-1}, false, std::nullopt)));
    }
  }
  std::cout << "stock sum drift: " << seen.str() << "\n";
  EXPECT_TRUE(drift) << "stock sum(-1) showed no batch drift: " << seen.str();
}

}  // namespace
}  // namespace lockstep::kernels::cuda
#endif  // LOCKSTEP_WITH_CUDA
