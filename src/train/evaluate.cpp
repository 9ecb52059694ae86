#include "train/evaluate.hpp"

#include <cmath>

#include "train/flat_model.hpp"

namespace esync::train {

EvalResult evaluate(Net& net, const Split& split, std::int64_t classes, std::int64_t batch,
                    const std::atomic<bool>* cancel) {
  const bool was_training = net.is_training();
  net.set_training(false);
  torch::NoGradGuard ng;
  double loss_sum = 0;
  std::int64_t correct = 0;
  const std::int64_t n = split.size();
  const auto params = net.parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  for (std::int64_t i = 0; i < n; i += batch) {
    if (cancel && cancel->load()) {
      net.set_training(was_training);
      return {0, -1, false};
    }
    const auto len = std::min(batch, n - i);
    auto x = split.inputs(i, len).to(device), y = split.y.narrow(0, i, len).to(device);
    auto out = net.forward(x);
    loss_sum += loss_fn(out, y, classes).item<double>() * double(len);
    if (classes > 0) correct += out.argmax(1).eq(y).sum().item<std::int64_t>();
  }
  net.set_training(was_training);
  EvalResult r;
  r.loss = n > 0 ? loss_sum / double(n) : 0.0;
  r.acc = classes > 0 && n > 0 ? double(correct) / double(n) : -1.0;
  return r;
}

void fill_eval(logev::Eval& ev, const EvalResult& r, double f_star, double f0) {
  ev.loss = r.loss;
  if (r.acc >= 0) ev.acc = r.acc;
  if (!std::isnan(f_star)) {
    ev.gap = r.loss - f_star;
    ev.rel_gap = (r.loss - f_star) / (f0 - f_star);
  }
}

}  // namespace esync::train
