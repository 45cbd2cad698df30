// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual -> bool), logic (And, Or, Xor on bool) and
// Where, all with numpy multidirectional broadcasting. Semantics are the same in opsets 11 to 21; later versions
// only widened the type lists (LessOrEqual and GreaterOrEqual appeared in 12 and are accepted at 11 too).
// Equal on strings (opset 19) is not supported: normrt tensors hold no strings.
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/element_types.h"
#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

using namespace element;  // src/ops/element_types.h

// ---- comparisons and logic ------------------------------------------------------------------------------------
template <unsigned Set>
void infer_binary_to_bool(InferContext& ctx) {
  if (ctx.num_inputs() != 2) ctx.fail("needs 2 inputs, has " + std::to_string(ctx.num_inputs()));
  if ((type_class(ctx.dtype(0)) & Set) == 0) fail_dtype(ctx, 0, ctx.dtype(0), Set);
  if (ctx.dtype(1) != ctx.dtype(0))
    ctx.fail(std::string("input 1 has type ") + dtype_name(ctx.dtype(1)) + " but input 0 has " +
             dtype_name(ctx.dtype(0)) + "; " + ctx.node.op_type + " needs inputs of one type");
  ctx.set_output(0, DataType::kBool, broadcast_shapes(ctx, {ctx.shape(0), ctx.shape(1)}));
}

// out[i] = Op{}(a[.], b[.]) as bool. Comparisons with NaN are false (Equal too), as in IEEE and numpy.
template <unsigned Set, typename Op>
void binary_to_bool_reference(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& out = ctx.out(0);
  bool ok = dispatch<Set>(a.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* pa = a.data<S>();
    const S* pb = b.data<S>();
    uint8_t* po = out.data<uint8_t>();
    const Op op;
    broadcast_loop<2>(out.dims(), {&a.dims(), &b.dims()}, [&](int64_t o, const std::array<int64_t, 2>& off) {
      po[o] = op(Num<S>::load(pa[off[0]]), Num<S>::load(pb[off[1]])) ? 1 : 0;
    });
  });
  if (!ok) fail_dtype(ctx, 0, a.dtype(), Set);
}

struct EqualOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x == y;
  }
};
struct LessOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x < y;
  }
};
struct GreaterOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x > y;
  }
};
struct LessOrEqualOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x <= y;
  }
};
struct GreaterOrEqualOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x >= y;
  }
};
struct AndOp {
  bool operator()(bool x, bool y) const { return x && y; }
};
struct OrOp {
  bool operator()(bool x, bool y) const { return x || y; }
};
struct XorOp {
  bool operator()(bool x, bool y) const { return x != y; }
};

// ---- Where ------------------------------------------------------------------------------------------------------
void infer_where(InferContext& ctx) {
  if (ctx.num_inputs() != 3) ctx.fail("needs 3 inputs (condition, X, Y), has " + std::to_string(ctx.num_inputs()));
  if (ctx.dtype(0) != DataType::kBool)
    ctx.fail(std::string("condition (input 0) must be bool but is ") + dtype_name(ctx.dtype(0)));
  if (ctx.dtype(1) != ctx.dtype(2))
    ctx.fail(std::string("X (input 1) has type ") + dtype_name(ctx.dtype(1)) + " but Y (input 2) has " +
             dtype_name(ctx.dtype(2)) + "; they must match");
  if (dtype_size(ctx.dtype(1)) == 0) ctx.fail("X (input 1) has an undefined type");
  ctx.set_output(0, ctx.dtype(1), broadcast_shapes(ctx, {ctx.shape(0), ctx.shape(1), ctx.shape(2)}));
}

// Where only moves elements, so it works on raw words of the element size and supports every dtype.
template <typename Word>
void where_words(const Tensor& condition, const Tensor& x, const Tensor& y, Tensor& out) {
  const uint8_t* pc = condition.data<uint8_t>();
  const Word* px = static_cast<const Word*>(x.raw());
  const Word* py = static_cast<const Word*>(y.raw());
  Word* po = static_cast<Word*>(out.raw());
  broadcast_loop<3>(
      out.dims(), {&condition.dims(), &x.dims(), &y.dims()},
      [&](int64_t o, const std::array<int64_t, 3>& off) { po[o] = pc[off[0]] ? px[off[1]] : py[off[2]]; });
}

void where_reference(KernelContext& ctx) {
  const Tensor& condition = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& y = ctx.in(2);
  if (condition.dtype() != DataType::kBool)
    ctx.fail(std::string("condition (input 0) must be bool but is ") + dtype_name(condition.dtype()));
  if (x.dtype() != y.dtype() || x.dtype() != ctx.out(0).dtype())
    ctx.fail(std::string("X and Y must have one type; they are ") + dtype_name(x.dtype()) + " and " +
             dtype_name(y.dtype()));
  switch (dtype_size(x.dtype())) {
    case 1:
      where_words<uint8_t>(condition, x, y, ctx.out(0));
      return;
    case 2:
      where_words<uint16_t>(condition, x, y, ctx.out(0));
      return;
    case 4:
      where_words<uint32_t>(condition, x, y, ctx.out(0));
      return;
    case 8:
      where_words<uint64_t>(condition, x, y, ctx.out(0));
      return;
    default:
      ctx.fail(std::string("X has unsupported type ") + dtype_name(x.dtype()));
  }
}

constexpr unsigned kEqualTypes = kNumeric | kBool;

}  // namespace

NORMRT_REGISTER_OP("", "Equal", infer_binary_to_bool<kEqualTypes>, (binary_to_bool_reference<kEqualTypes, EqualOp>));
NORMRT_REGISTER_OP("", "Less", infer_binary_to_bool<kNumeric>, (binary_to_bool_reference<kNumeric, LessOp>));
NORMRT_REGISTER_OP("", "Greater", infer_binary_to_bool<kNumeric>, (binary_to_bool_reference<kNumeric, GreaterOp>));
NORMRT_REGISTER_OP("", "LessOrEqual", infer_binary_to_bool<kNumeric>,
                   (binary_to_bool_reference<kNumeric, LessOrEqualOp>));
NORMRT_REGISTER_OP("", "GreaterOrEqual", infer_binary_to_bool<kNumeric>,
                   (binary_to_bool_reference<kNumeric, GreaterOrEqualOp>));
NORMRT_REGISTER_OP("", "And", infer_binary_to_bool<kBool>, (binary_to_bool_reference<kBool, AndOp>));
NORMRT_REGISTER_OP("", "Or", infer_binary_to_bool<kBool>, (binary_to_bool_reference<kBool, OrOp>));
NORMRT_REGISTER_OP("", "Xor", infer_binary_to_bool<kBool>, (binary_to_bool_reference<kBool, XorOp>));
NORMRT_REGISTER_OP("", "Where", infer_where, where_reference);

}  // namespace normrt
