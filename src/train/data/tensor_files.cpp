// --dataset tensors: a dataset saved from PyTorch. DIR/train.pt and DIR/test.pt each hold what
//   torch.save((x, y), "train.pt")   or   torch.save({"x": x, "y": y}, "train.pt")
// wrote: x [N, ...] float or uint8, y [N] integer class labels. uint8 images ([N, C, H, W], or
// [N, H, W] taken as one channel) stay uint8 and are standardised per channel as each batch is
// drawn, like the built-in image sets; float inputs are used as they are.
#include <fstream>
#include <sstream>

#include "esync/error.hpp"
#include "train/data/dataset.hpp"

namespace esync::train {
namespace {

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

Split read_split(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ESYNC_CHECK_T(IoError, in.good(), path,
                ": cannot read the file (--dataset tensors reads DIR/train.pt and DIR/test.pt, "
                "written by torch.save((x, y), path))");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  c10::IValue v;
  try {
    v = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    ESYNC_THROW(IoError, path, ": not a file torch.save wrote (", what.substr(0, what.find('\n')), ")");
  }
  c10::IValue x, y;
  if ((v.isTuple() && v.toTupleRef().elements().size() == 2)) {
    x = v.toTupleRef().elements()[0], y = v.toTupleRef().elements()[1];
  } else if (v.isList() && v.toListRef().size() == 2) {
    x = v.toListRef()[0], y = v.toListRef()[1];
  } else if (v.isGenericDict()) {
    for (const auto& kv : v.toGenericDict()) {
      if (kv.key().isString() && kv.key().toStringRef() == "x") x = kv.value();
      if (kv.key().isString() && kv.key().toStringRef() == "y") y = kv.value();
    }
  }
  ESYNC_CHECK_T(ConfigError, x.isTensor() && y.isTensor(), path,
                ": expected (x, y) or {\"x\": x, \"y\": y}, two tensors, as torch.save((x, y), path) writes");
  torch::Tensor xs = x.toTensor(), ys = y.toTensor();
  ESYNC_CHECK_T(ConfigError, xs.dim() >= 2 && xs.size(0) >= 1, path, ": x has shape ", shape_of(xs),
                "; expected [N, ...], N >= 1 samples");
  ESYNC_CHECK_T(ConfigError, ys.dim() == 1 && ys.size(0) == xs.size(0), path, ": y has shape ", shape_of(ys),
                "; expected [", xs.size(0), "], one label per sample of x");
  const auto xt = xs.scalar_type();
  ESYNC_CHECK_T(ConfigError, xt == torch::kUInt8 || xs.is_floating_point(), path, ": x is ", xs.dtype(),
                "; expected float (float32, float64, float16) or uint8 (images)");
  ESYNC_CHECK_T(ConfigError, !ys.is_floating_point() && !ys.is_complex() && ys.scalar_type() != torch::kBool,
                path, ": y is ", ys.dtype(), "; expected integer class labels (int64)");
  ESYNC_CHECK_T(ConfigError, xt != torch::kUInt8 || xs.dim() == 3 || xs.dim() == 4, path,
                ": x is uint8 of shape ", shape_of(xs),
                "; uint8 is for images [N, C, H, W] or [N, H, W]: save other inputs as float");
  if (xs.is_floating_point()) xs = xs.to(torch::kFloat32);
  if (xt == torch::kUInt8 && xs.dim() == 3) xs = xs.unsqueeze(1);  // [N, H, W]: one channel
  return {xs.contiguous(), ys.to(torch::kInt64).contiguous(), {}, {}};
}

}  // namespace

Dataset read_tensor_files(const DataOptions& opt) {
  ESYNC_CHECK_T(ConfigError, !opt.dir.empty(),
                "--dataset tensors needs --data-dir DIR holding train.pt and test.pt "
                "(torch.save((x, y), \"DIR/train.pt\"))");
  const std::string train = opt.dir + "/train.pt", test = opt.dir + "/test.pt";
  Dataset ds;
  ds.name = "tensors";
  ds.train = read_split(train);
  ds.test = read_split(test);
  const auto sample = [](const Split& s) { return s.x.sizes().slice(1).vec(); };
  ESYNC_CHECK_T(ConfigError, sample(ds.train) == sample(ds.test) && ds.train.x.dtype() == ds.test.x.dtype(),
                test, ": samples of shape ", shape_of(ds.test.x), " (", ds.test.x.dtype(), ") where ", train,
                " has ", shape_of(ds.train.x), " (", ds.train.x.dtype(), ")");
  // Labels are class indices: 0 .. C-1, C from --num-classes or the largest label + 1.
  std::int64_t largest = 0;
  for (const auto& [s, file] : {std::pair{&ds.train, train}, std::pair{&ds.test, test}}) {
    const auto lo = s->y.min().item<std::int64_t>(), hi = s->y.max().item<std::int64_t>();
    const auto row_of = [&](std::int64_t label) {
      return (s->y == label).nonzero()[0][0].item<std::int64_t>();
    };
    ESYNC_CHECK_T(ConfigError, lo >= 0, file, ": label ", lo, " at row ", row_of(lo),
                  "; labels are class indices from 0");
    ESYNC_CHECK_T(ConfigError, opt.num_classes == 0 || hi < opt.num_classes, file, ": label ", hi, " at row ",
                  row_of(hi), " is outside --num-classes ", opt.num_classes, " (labels 0 to ",
                  opt.num_classes - 1, ")");
    largest = std::max(largest, hi);
  }
  ds.num_classes = opt.num_classes > 0 ? opt.num_classes : largest + 1;
  ESYNC_CHECK_T(ConfigError, ds.num_classes >= 2, train,
                ": every label is 0; a classifier needs >= 2 classes");
  ds.sample_shape = sample(ds.train);
  if (ds.train.x.scalar_type() == torch::kUInt8 && ds.train.x.dim() == 4) normalise_images(ds);
  return ds;
}

}  // namespace esync::train
