#include "server/metrics.h"

#include <fmt/format.h>

#include "common/check.h"

namespace aiops::server {
namespace {

std::string Escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) { return fmt::format("{}", v); }

}  // namespace

std::string Metrics::RenderLabels(const MetricLabels& labels, const std::string& extra) {
  std::string out;
  for (const auto& [key, value] : labels) {
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", key, Escape(value));
  }
  if (!extra.empty()) {
    out += (out.empty() ? "" : ",") + extra;
  }
  return out.empty() ? "" : "{" + out + "}";
}

void Metrics::DeclareCounter(const std::string& name, const std::string& help) {
  absl::MutexLock lock(&mu_);
  families_[name] = Family{help, "counter", {}, {}, {}};
}

void Metrics::DeclareGauge(const std::string& name, const std::string& help) {
  absl::MutexLock lock(&mu_);
  families_[name] = Family{help, "gauge", {}, {}, {}};
}

void Metrics::DeclareHistogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  families_[name] = Family{help, "histogram", std::move(bounds), {}, {}};
}

void Metrics::Add(const std::string& name, const MetricLabels& labels, double delta) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  AIOPS_CHECK_MSG(it != families_.end() && it->second.type != "histogram",
                  ("undeclared counter " + name).c_str());
  it->second.values[RenderLabels(labels)] += delta;
}

void Metrics::Set(const std::string& name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  AIOPS_CHECK_MSG(it != families_.end() && it->second.type == "gauge",
                  ("undeclared gauge " + name).c_str());
  it->second.values[RenderLabels(labels)] = value;
}

void Metrics::SetAll(const std::string& name,
                     const std::vector<std::pair<MetricLabels, double>>& series) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  AIOPS_CHECK_MSG(it != families_.end() && it->second.type == "gauge",
                  ("undeclared gauge " + name).c_str());
  it->second.values.clear();
  for (const auto& [labels, value] : series) {
    it->second.values[RenderLabels(labels)] = value;
  }
}

void Metrics::Observe(const std::string& name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  AIOPS_CHECK_MSG(it != families_.end() && it->second.type == "histogram",
                  ("undeclared histogram " + name).c_str());
  Histogram& h = it->second.histograms[RenderLabels(labels)];
  h.counts.resize(it->second.bounds.size());
  for (size_t i = 0; i < it->second.bounds.size(); ++i) {
    if (value <= it->second.bounds[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += value;
}

double Metrics::Value(const std::string& name, const MetricLabels& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    return 0;
  }
  auto v = it->second.values.find(RenderLabels(labels));
  return v == it->second.values.end() ? 0 : v->second;
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [labels, value] : f.values) {
      out += fmt::format("{}{} {}\n", name, labels, Number(value));
    }
    for (const auto& [labels, h] : f.histograms) {
      // Re-render with the le label appended inside the braces.
      const std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2) + ",";
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.bounds.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, inner, Number(f.bounds[i]),
                           cumulative);
      }
      out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, inner, h.count);
      out += fmt::format("{}_sum{} {}\n", name, labels, Number(h.sum));
      out += fmt::format("{}_count{} {}\n", name, labels, h.count);
    }
  }
  return out;
}

}  // namespace aiops::server
