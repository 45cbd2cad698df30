#include "test_util.h"

namespace normrt::test {

TEST(Identity, CopiesInput) {
  Tensor x = random_tensor({3, 5, 7});
  auto out = run(make_node("Identity", 1), {&x});
  EXPECT_EQ(relative_error(out[0], x), 0.0);
}

TEST(Dropout, IsIdentityWithTrueMaskAtInference) {
  Tensor x = random_tensor({2, 9});
  auto out = run(make_node("Dropout", 1, 2), {&x}, 13);
  EXPECT_EQ(relative_error(out[0], x), 0.0);
  ASSERT_EQ(out[1].dtype(), DataType::kBool);
  for (int64_t i = 0; i < out[1].numel(); ++i) EXPECT_EQ(out[1].data<uint8_t>()[i], 1);
}

}  // namespace normrt::test
