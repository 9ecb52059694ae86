// make_model: the one place that maps a model name to its constructor.
#include <filesystem>

#include "esync/error.hpp"
#include "train/models/net.hpp"

namespace esync::train {

std::vector<torch::Tensor> Net::flat_buffers() {
  std::vector<torch::Tensor> out;
  for (auto& b : buffers())
    if (b.is_floating_point()) out.push_back(b);
  return out;
}

std::int64_t flat_features(const std::function<torch::Tensor(torch::Tensor)>& body,
                           const std::vector<std::int64_t>& sample_shape) {
  torch::NoGradGuard ng;
  std::vector<std::int64_t> shape = {1};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  return body(torch::zeros(shape)).numel();
}

static std::int64_t numel_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

namespace {

std::shared_ptr<Net> build(const std::string& name, const std::vector<std::int64_t>& sample_shape,
                           std::int64_t classes) {
  const bool image = sample_shape.size() == 3;
  auto need_image = [&] {
    ESYNC_CHECK_T(ConfigError, image && classes > 0, "model '", name,
                  "' needs an image classification dataset (C x H x W input)");
  };
  if (name == "linreg") {
    ESYNC_CHECK_T(ConfigError, classes == 0, "model linreg is for least squares (--dataset least-squares)");
    return make_linreg(numel_of(sample_shape));
  }
  ESYNC_CHECK_T(ConfigError, classes > 0 || name.ends_with(".pt"), "model '", name,
                "' is a classifier; use --model linreg with least squares");
  if (name == "mlp") return make_mlp(numel_of(sample_shape), classes);
  if (name == "lenet5") return need_image(), make_lenet5(sample_shape, classes);
  if (name == "cnn") return need_image(), make_cnn(sample_shape, classes);
  if (name == "resnet18") return need_image(), make_resnet18(sample_shape[0], classes);
  if (name.ends_with(".pt") || std::filesystem::exists(name)) return load_torchscript(name);
  ESYNC_THROW(ConfigError, "unknown model '", name,
              "' (expected linreg, mlp, lenet5, cnn, resnet18 or a TorchScript .pt path)");
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out;
  for (const auto s : shape) out += (out.empty() ? "" : "x") + std::to_string(s);
  return out;
}

}  // namespace

// A model that cannot take the dataset's samples, or gives the wrong number of outputs, is named
// here in one line, before any training: a batch of two zero samples goes through it (in eval
// mode: BatchNorm's statistics stay as they are).
std::shared_ptr<Net> make_model(const std::string& name, const std::vector<std::int64_t>& sample_shape,
                                std::int64_t classes) {
  std::shared_ptr<Net> net;
  std::vector<std::int64_t> out_shape;
  try {
    net = build(name, sample_shape, classes);
    torch::NoGradGuard no_grad;
    std::vector<std::int64_t> batch = {2};
    batch.insert(batch.end(), sample_shape.begin(), sample_shape.end());
    const bool was_training = net->is_training();
    net->set_training(false);
    out_shape = net->forward(torch::zeros(batch)).sizes().vec();
    net->set_training(was_training);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    ESYNC_THROW(ConfigError, "model ", name, " does not take samples of shape ", shape_text(sample_shape),
                ": ", what.substr(0, what.find('\n')));
  }
  const bool fits = classes > 0 ? out_shape == std::vector<std::int64_t>{2, classes}
                                : (out_shape == std::vector<std::int64_t>{2} ||
                                   out_shape == std::vector<std::int64_t>{2, 1});
  ESYNC_CHECK_T(
      ConfigError, fits, "model ", name, " gives outputs of shape ", shape_text(out_shape),
      " for 2 samples; the dataset wants ",
      classes > 0 ? "2x" + std::to_string(classes) + " (its classes)" : std::string("2 (one value each)"));
  return net;
}

}  // namespace esync::train
