// Client load for the HA tests whose history is checked for linearizability: random namespace
// operations on a few top-level directories, each sent through a MasterClient (which follows the
// leader and retries with one operation id) and recorded in a lincheck::NamespaceRecorder.
#pragma once

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rpc/master_client.h"
#include "testing/lincheck.h"
#include "testing/lincheck_namespace.h"

namespace cistern::testing {

// Sends `input` through `client`, recording the call and its outcome.
inline void RunRecorded(rpc::MasterClient* client, lincheck::NamespaceRecorder& recorder, int client_id,
                        const lincheck::NamespaceInput& input) {
  using Kind = lincheck::NamespaceInput::Kind;
  const auto id = recorder.Invoke(client_id, input);
  lincheck::NamespaceOutput output;
  absl::Status status;
  switch (input.kind) {
    case Kind::kCreateFile: {
      proto::CreateFileRequest request;
      request.set_path(input.path);
      request.set_recursive(input.recursive);
      request.set_overwrite(input.overwrite);
      request.set_write_type(proto::MUST_CACHE);  // nothing in the under-store
      auto response = client->CreateFile(request);
      status = response.status();
      if (response.ok()) output.id = response->info().file_id();
      break;
    }
    case Kind::kCreateDirectory: {
      proto::CreateDirectoryRequest request;
      request.set_path(input.path);
      request.set_recursive(input.recursive);
      request.set_allow_exists(input.allow_exists);
      auto response = client->CreateDirectory(request);
      status = response.status();
      if (response.ok()) output.id = response->info().file_id();
      break;
    }
    case Kind::kRename: {
      proto::RenameRequest request;
      request.set_src_path(input.path);
      request.set_dst_path(input.dst);
      status = client->Rename(request).status();
      break;
    }
    case Kind::kDelete: {
      proto::DeleteRequest request;
      request.set_path(input.path);
      request.set_recursive(input.recursive);
      status = client->Delete(request).status();
      break;
    }
    case Kind::kGetStatus: {
      proto::GetStatusRequest request;
      request.set_path(input.path);
      auto response = client->GetStatus(request);
      status = response.status();
      if (response.ok()) {
        output.id = response->info().file_id();
        output.directory = response->info().kind() == proto::DIRECTORY;
      }
      break;
    }
    case Kind::kExists: {
      proto::ExistsRequest request;
      request.set_path(input.path);
      auto response = client->Exists(request);
      status = response.status();
      if (response.ok()) output.exists = response->exists();
      break;
    }
  }
  lincheck::CompleteNamespaceOperation(recorder, id, status, output);
}

// A random operation on /k<0..keys-1>/{a,b} or /k<n> itself: creates, renames between a and b,
// deletes, reads. Small groups of contended paths, so the checker has real work.
inline lincheck::NamespaceInput RandomNamespaceOp(std::mt19937& rng, int keys) {
  using lincheck::NamespaceInput;
  const std::string top = absl::StrCat("/k", rng() % keys);
  const std::string a = top + "/a";
  const std::string b = top + "/b";
  const std::string& one = rng() % 2 == 0 ? a : b;
  const std::string& other = &one == &a ? b : a;
  switch (rng() % 10) {
    case 0: return NamespaceInput::CreateDirectory(top, /*recursive=*/false, /*allow_exists=*/true);
    case 1:
    case 2: return NamespaceInput::CreateFile(one, /*recursive=*/true);
    case 3: return NamespaceInput::Rename(one, other);
    case 4: return NamespaceInput::Delete(one);
    case 5:
    case 6: return NamespaceInput::GetStatus(one);
    case 7: return NamespaceInput::Exists(one);
    case 8: return NamespaceInput::GetStatus(top);
    default: return NamespaceInput::Exists(top);
  }
}

// `clients` threads, each with its own MasterClient from make_client(), sending random recorded
// operations until stopped.
class RecordedLoad {
 public:
  template <typename MakeClient>
  RecordedLoad(int clients, int keys, MakeClient make_client) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, c, keys, client = make_client()] {
        std::mt19937 rng(1000 + c);
        while (!stop_) {
          RunRecorded(client.get(), recorder_, c, RandomNamespaceOp(rng, keys));
          completed_.fetch_add(1);
        }
      });
    }
  }
  ~RecordedLoad() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int completed() const { return completed_.load(); }
  lincheck::NamespaceHistory History() const { return recorder_.History(); }

  // Stops the load and checks the history: linearizable, and no two creates got one id.
  void StopAndCheck() {
    Stop();
    const lincheck::NamespaceHistory history = History();
    int unknown = 0;
    for (const auto& op : history) unknown += op.outcome == lincheck::Outcome::kInfo ? 1 : 0;
    lincheck::CheckResult result = lincheck::Check(lincheck::NamespaceModel(), history);
    std::cerr << "history: " << history.size() << " operations, " << unknown << " of unknown outcome; "
              << result.summary << "\n";
    EXPECT_EQ(result.verdict, lincheck::Verdict::kLinearizable) << result.summary << "\n" << result.report;
    absl::Status distinct = lincheck::CheckCreatedIdsAreDistinct(history);
    EXPECT_TRUE(distinct.ok()) << distinct;
    EXPECT_GT(history.size(), 100u);
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> completed_{0};
  lincheck::NamespaceRecorder recorder_;
  std::vector<std::thread> threads_;
};

}  // namespace cistern::testing
