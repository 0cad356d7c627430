#include "common/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/version.h"

namespace cistern {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

void CheckName(std::string_view name, MetricType type) {
  if (!IsValidMetricName(name)) Die(absl::StrCat("invalid metric name '", std::string(name), "'"));
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    Die(absl::StrCat("counter '", std::string(name), "' must end in _total"));
  }
  if (type != MetricType::kCounter && name.ends_with("_total")) {
    Die(absl::StrCat("'", std::string(name), "' ends in _total but is not a counter"));
  }
}

std::string TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Label values: backslash, double quote and newline escaped (text format 0.0.4).
std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest text that reads back as v
  return std::string(buf, end);
}

std::string FormatLabels(const LabelPairs& labels, std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (value.empty()) continue;  // an empty label value is the same as no label
    absl::StrAppend(&out, first ? "" : ",", name, "=\"", EscapeLabelValue(value), "\"");
    first = false;
  }
  if (!extra_name.empty()) absl::StrAppend(&out, first ? "" : ",", std::string(extra_name), "=\"", std::string(extra_value), "\"");
  out += "}";
  return out == "{}" ? "" : out;
}

LabelPairs Zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  LabelPairs out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], values[i]);
  return out;
}

// Collects collector output into families keyed by name, merging duplicates.
class SnapshotSink final : public MetricSink {
 public:
  explicit SnapshotSink(std::map<std::string, MetricFamilySnapshot>* families) : families_(families) {}

  void AddGauge(std::string_view name, std::string_view help, LabelPairs labels, double value) override {
    Add(name, help, MetricType::kGauge, std::move(labels), value);
  }
  void AddCounter(std::string_view name, std::string_view help, LabelPairs labels, double value) override {
    Add(name, help, MetricType::kCounter, std::move(labels), value);
  }

 private:
  void Add(std::string_view name, std::string_view help, MetricType type, LabelPairs labels, double value) {
    CheckName(name, type);
    for (const auto& [label, unused] : labels) {
      if (!IsValidLabelName(label)) Die(absl::StrCat("invalid label name '", label, "' of ", std::string(name)));
    }
    auto [it, inserted] = families_->try_emplace(std::string(name));
    MetricFamilySnapshot& family = it->second;
    if (inserted) {
      family.name = std::string(name);
      family.help = std::string(help);
      family.type = type;
    } else if (family.type != type) {
      Die(absl::StrCat("metric '", std::string(name), "' collected as ", TypeName(type), " but is a ", TypeName(family.type)));
    }
    for (MetricSample& sample : family.samples) {
      if (sample.labels == labels) {
        sample.value += value;
        return;
      }
    }
    MetricSample sample;
    sample.labels = std::move(labels);
    sample.value = value;
    family.samples.push_back(std::move(sample));
  }

  std::map<std::string, MetricFamilySnapshot>* const families_;
};

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || c == ':' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())) Die("histogram bounds must be ascending");
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

uint64_t Histogram::count() const { return CumulativeCounts().back(); }

const std::vector<double>& LatencyBucketsSeconds() {
  static const auto* buckets = new std::vector<double>{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
                                                       30,     60};
  return *buckets;
}

template <typename Metric>
Metric* MetricFamily<Metric>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat("metric wants labels (", absl::StrJoin(label_names_, ","), "), got ", values.size(), " values"));
  }
  absl::MutexLock lock(&mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return it->second.get();
  return children_.emplace(values, make_()).first->second.get();
}

template <typename Metric>
std::vector<std::pair<std::vector<std::string>, const Metric*>> MetricFamily<Metric>::Children() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::vector<std::string>, const Metric*>> out;
  out.reserve(children_.size());
  for (const auto& [values, metric] : children_) out.emplace_back(values, metric.get());
  return out;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = other.registry_;
    id_ = other.id_;
    other.registry_ = nullptr;
    other.id_ = 0;
  }
  return *this;
}

void CollectorHandle::Reset() {
  if (registry_ != nullptr) registry_->RemoveCollector(id_);
  registry_ = nullptr;
  id_ = 0;
}

MetricsRegistry::Family* MetricsRegistry::FindOrAdd(std::string_view name, std::string_view help, MetricType type,
                                                    std::vector<std::string> labels) {
  auto it = families_.find(name);
  if (it != families_.end()) {
    Family* family = it->second.get();
    if (family->type != type || family->label_names != labels) {
      Die(absl::StrCat("metric '", std::string(name), "' registered again as ", TypeName(type), " (", absl::StrJoin(labels, ","),
                       "); it is a ", TypeName(family->type), " (", absl::StrJoin(family->label_names, ","), ")"));
    }
    if (family->help.empty()) family->help = std::string(help);
    return family;
  }
  CheckName(name, type);
  for (const std::string& label : labels) {
    if (!IsValidLabelName(label)) Die(absl::StrCat("invalid label name '", label, "' of ", std::string(name)));
  }
  auto family = std::make_unique<Family>();
  family->type = type;
  family->help = std::string(help);
  family->label_names = std::move(labels);
  Family* raw = family.get();
  families_.emplace(std::string(name), std::move(family));
  return raw;
}

Counter* MetricsRegistry::GetCounter(std::string_view name, std::string_view help) {
  return GetCounterFamily(name, help, {})->WithLabels(std::vector<std::string>{});
}

Gauge* MetricsRegistry::GetGauge(std::string_view name, std::string_view help) {
  return GetGaugeFamily(name, help, {})->WithLabels(std::vector<std::string>{});
}

CounterFamily* MetricsRegistry::GetCounterFamily(std::string_view name, std::string_view help,
                                                 std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  Family* family = FindOrAdd(name, help, MetricType::kCounter, labels);
  if (family->counters == nullptr) {
    family->counters =
        std::make_unique<CounterFamily>(std::move(labels), [] { return std::make_unique<Counter>(); });
  }
  return family->counters.get();
}

GaugeFamily* MetricsRegistry::GetGaugeFamily(std::string_view name, std::string_view help,
                                             std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  Family* family = FindOrAdd(name, help, MetricType::kGauge, labels);
  if (family->gauges == nullptr) {
    family->gauges = std::make_unique<GaugeFamily>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  }
  return family->gauges.get();
}

HistogramFamily* MetricsRegistry::GetHistogramFamily(std::string_view name, std::string_view help,
                                                     std::vector<std::string> labels, std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Family* family = FindOrAdd(name, help, MetricType::kHistogram, labels);
  if (family->histograms == nullptr) {
    family->histograms = std::make_unique<HistogramFamily>(
        std::move(labels), [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  }
  return family->histograms.get();
}

CollectorHandle MetricsRegistry::AddCollector(Collector collector) {
  absl::MutexLock lock(&collectors_mu_);
  const uint64_t id = next_collector_id_++;
  collectors_.emplace(id, std::move(collector));
  return CollectorHandle(this, id);
}

void MetricsRegistry::RemoveCollector(uint64_t id) {
  absl::MutexLock lock(&collectors_mu_);
  collectors_.erase(id);
}

std::vector<MetricFamilySnapshot> MetricsRegistry::Collect() const {
  std::map<std::string, MetricFamilySnapshot> families;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, family] : families_) {
      MetricFamilySnapshot& out = families[name];
      out.name = name;
      out.help = family->help;
      out.type = family->type;
      if (family->counters != nullptr) {
        for (const auto& [values, counter] : family->counters->Children()) {
          out.samples.push_back(MetricSample{Zip(family->label_names, values), static_cast<double>(counter->Get())});
        }
      }
      if (family->gauges != nullptr) {
        for (const auto& [values, gauge] : family->gauges->Children()) {
          out.samples.push_back(MetricSample{Zip(family->label_names, values), gauge->Get()});
        }
      }
      if (family->histograms != nullptr) {
        for (const auto& [values, histogram] : family->histograms->Children()) {
          MetricSample sample;
          sample.labels = Zip(family->label_names, values);
          sample.bounds = histogram->bounds();
          sample.cumulative_counts = histogram->CumulativeCounts();
          sample.sum = histogram->sum();
          sample.count = sample.cumulative_counts.back();
          out.samples.push_back(std::move(sample));
        }
      }
    }
  }
  {
    absl::MutexLock lock(&collectors_mu_);
    SnapshotSink sink(&families);
    for (const auto& [id, collector] : collectors_) collector(&sink);
  }
  std::vector<MetricFamilySnapshot> out;
  out.reserve(families.size());
  for (auto& [name, family] : families) {
    std::sort(family.samples.begin(), family.samples.end(),
              [](const MetricSample& a, const MetricSample& b) { return a.labels < b.labels; });
    out.push_back(std::move(family));
  }
  return out;
}

std::string MetricsRegistry::PrometheusText() const {
  std::string out;
  for (const MetricFamilySnapshot& family : Collect()) {
    if (family.samples.empty()) continue;
    if (!family.help.empty()) absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n");
    absl::StrAppend(&out, "# TYPE ", family.name, " ", TypeName(family.type), "\n");
    for (const MetricSample& sample : family.samples) {
      if (family.type != MetricType::kHistogram) {
        absl::StrAppend(&out, family.name, FormatLabels(sample.labels), " ", FormatValue(sample.value), "\n");
        continue;
      }
      for (size_t i = 0; i < sample.cumulative_counts.size(); ++i) {
        const std::string le = i < sample.bounds.size() ? FormatValue(sample.bounds[i]) : "+Inf";
        absl::StrAppend(&out, family.name, "_bucket", FormatLabels(sample.labels, "le", le), " ",
                        sample.cumulative_counts[i], "\n");
      }
      absl::StrAppend(&out, family.name, "_sum", FormatLabels(sample.labels), " ", FormatValue(sample.sum), "\n");
      absl::StrAppend(&out, family.name, "_count", FormatLabels(sample.labels), " ", sample.count, "\n");
    }
  }
  return out;
}

std::map<std::string, int64_t> MetricsRegistry::Snapshot() const {
  std::map<std::string, int64_t> out;
  for (const MetricFamilySnapshot& family : Collect()) {
    if (family.type == MetricType::kHistogram) continue;
    for (const MetricSample& sample : family.samples) {
      out[absl::StrCat(family.name, FormatLabels(sample.labels))] = static_cast<int64_t>(std::llround(sample.value));
    }
  }
  return out;
}

int64_t MetricsRegistry::Value(std::string_view series) const {
  const std::map<std::string, int64_t> snapshot = Snapshot();
  auto it = snapshot.find(std::string(series));
  return it == snapshot.end() ? 0 : it->second;
}

MetricsRegistry& Metrics() {
  static auto* registry = new MetricsRegistry();
  return *registry;
}

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double rss_bytes = 0;
  double start_time_seconds = 0;
};

// /proc/self/stat fields 14-15 (utime, stime) and 22 (starttime) in clock ticks, 24 (rss) in
// pages; the boot time comes from /proc/stat's btime.
std::optional<ProcStat> ReadProcStat() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::vector<std::string> fields = absl::StrSplit(text.substr(paren + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state).
  if (fields.size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  double utime = 0, stime = 0, start = 0, rss = 0;
  if (!absl::SimpleAtod(fields[11], &utime) || !absl::SimpleAtod(fields[12], &stime) ||
      !absl::SimpleAtod(fields[19], &start) || !absl::SimpleAtod(fields[21], &rss)) {
    return std::nullopt;
  }
  double boot = 0;
  std::ifstream stat("/proc/stat");
  for (std::string line; std::getline(stat, line);) {
    if (absl::StartsWith(line, "btime ")) absl::SimpleAtod(line.substr(6), &boot);
  }
  return ProcStat{(utime + stime) / ticks, rss * page, boot + start / ticks};
}

double OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory handle itself
}

}  // namespace

void RegisterProcessMetrics(std::string_view daemon) {
  static absl::Mutex mu;
  static CollectorHandle* handle = nullptr;
  absl::MutexLock lock(&mu);
  if (handle != nullptr) return;
  handle = new CollectorHandle(Metrics().AddCollector([daemon = std::string(daemon)](MetricSink* sink) {
    sink->AddGauge("cistern_build_info", "Always 1; the labels say which daemon and version this is",
                   {{"daemon", daemon}, {"version", kVersion}}, 1);
    if (std::optional<ProcStat> stat = ReadProcStat(); stat.has_value()) {
      sink->AddGauge("process_start_time_seconds", "Start time of the process since the Unix epoch", {},
                     stat->start_time_seconds);
      sink->AddCounter("process_cpu_seconds_total", "User and system CPU time spent", {}, stat->cpu_seconds);
      sink->AddGauge("process_resident_memory_bytes", "Resident memory size", {}, stat->rss_bytes);
    }
    sink->AddGauge("process_open_fds", "Open file descriptors", {}, OpenFds());
  }));
}

}  // namespace cistern
