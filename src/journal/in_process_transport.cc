#include "journal/in_process_transport.h"

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"

namespace cistern::journal {

class InProcessRaftNetwork::Transport : public RaftTransport {
 public:
  Transport(InProcessRaftNetwork* network, raft::NodeId from) : network_(network), from_(from) {}
  void Send(std::vector<raft::Message> messages) override { network_->Deliver(from_, std::move(messages)); }
  void SendSnapshot(raft::Message message, std::string dir, std::function<void(absl::Status)> done) override {
    done(network_->DeliverSnapshot(from_, std::move(message), dir));
  }
  void SendEffects(ApplyEffects effects) override {
    effects.from = from_;
    network_->DeliverEffects(std::move(effects));
  }

 private:
  InProcessRaftNetwork* const network_;
  const raft::NodeId from_;
};

void InProcessRaftNetwork::Register(raft::NodeId id, RaftMessageHandler* handler) {
  absl::MutexLock lock(&mu_);
  handlers_[id] = handler;
}

void InProcessRaftNetwork::Unregister(raft::NodeId id) {
  absl::MutexLock lock(&mu_);
  handlers_.erase(id);
}

std::unique_ptr<RaftTransport> InProcessRaftNetwork::TransportFor(raft::NodeId from) {
  return std::make_unique<Transport>(this, from);
}

void InProcessRaftNetwork::Cut(raft::NodeId from, raft::NodeId to) {
  absl::MutexLock lock(&mu_);
  cut_.insert({from, to});
}

void InProcessRaftNetwork::Isolate(raft::NodeId id) {
  absl::MutexLock lock(&mu_);
  isolated_.insert(id);
}

void InProcessRaftNetwork::Heal() {
  absl::MutexLock lock(&mu_);
  cut_.clear();
  isolated_.clear();
}

void InProcessRaftNetwork::SetLoss(double drop, double duplicate) {
  absl::MutexLock lock(&mu_);
  drop_ = drop;
  duplicate_ = duplicate;
}

int64_t InProcessRaftNetwork::delivered() const {
  absl::MutexLock lock(&mu_);
  return delivered_;
}

int64_t InProcessRaftNetwork::snapshots_delivered() const {
  absl::MutexLock lock(&mu_);
  return snapshots_delivered_;
}

bool InProcessRaftNetwork::LinkUpLocked(raft::NodeId from, raft::NodeId to) const {
  return cut_.count({from, to}) == 0 && isolated_.count(from) == 0 && isolated_.count(to) == 0 &&
         handlers_.count(to) > 0;
}

absl::Status InProcessRaftNetwork::DeliverSnapshot(raft::NodeId from, raft::Message message, const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const raft::NodeId to = message.to;
  if (!LinkUpLocked(from, to)) return absl::UnavailableError(absl::StrCat("no link from ", from, " to ", to));
  RaftMessageHandler* handler = handlers_[to];
  absl::StatusOr<std::string> staging = handler->NewSnapshotStagingDir();
  if (!staging.ok()) return staging.status();
  std::error_code ec;
  std::filesystem::copy(dir, *staging, std::filesystem::copy_options::recursive, ec);
  if (ec) return absl::InternalError(absl::StrCat("copying snapshot '", dir, "': ", ec.message()));
  ++snapshots_delivered_;
  handler->ReceiveSnapshot(std::move(message), *std::move(staging));
  return absl::OkStatus();
}

void InProcessRaftNetwork::DeliverEffects(ApplyEffects effects) {
  absl::MutexLock lock(&mu_);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  if (!LinkUpLocked(effects.from, effects.to) || (drop_ > 0 && coin(rng_) < drop_)) {
    ++dropped_;
    return;
  }
  ++delivered_;
  // Duplicated like messages: a node must take the same effects twice without harm.
  if (duplicate_ > 0 && coin(rng_) < duplicate_) handlers_[effects.to]->ReceiveEffects(effects);
  handlers_[effects.to]->ReceiveEffects(std::move(effects));
}

int64_t InProcessRaftNetwork::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

void InProcessRaftNetwork::Deliver(raft::NodeId from, std::vector<raft::Message> messages) {
  absl::MutexLock lock(&mu_);
  std::map<raft::NodeId, std::vector<raft::Message>> by_destination;
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  for (raft::Message& m : messages) {
    const raft::NodeId to = m.to;
    if (!LinkUpLocked(from, to) || (drop_ > 0 && coin(rng_) < drop_)) {
      ++dropped_;
      continue;
    }
    std::vector<raft::Message>& out = by_destination[to];
    if (duplicate_ > 0 && coin(rng_) < duplicate_) out.push_back(m);
    out.push_back(std::move(m));
  }
  for (auto& [to, batch] : by_destination) {
    delivered_ += static_cast<int64_t>(batch.size());
    handlers_[to]->Receive(std::move(batch));
  }
}

}  // namespace cistern::journal
