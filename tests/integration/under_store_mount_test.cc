// End to end over object stores: real cistern-master and cistern-worker processes, an S3 mount
// over moto_server and an Azure mount over Azurite, each with the store's endpoint and
// credentials given only as mount options (no AWS_* / AZURE_* variables anywhere), so the worker
// and the client can reach the store only through the mount options the master hands them. Then
// ls, cat, get, put (CACHE_THROUGH), and checks with the stores' own tools: objects written
// through Cistern are byte-identical for the AWS CLI / the Azure SDK, and objects they uploaded
// (multipart / staged blocks) read back through Cistern, also straight from the under-store when
// the worker is gone.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/cluster_fixture.h"
#include "tests/ufs/azurite_server.h"
#include "tests/ufs/s3_test_server.h"

namespace cistern::testing {
namespace {

using ufs::testing::AzuriteServer;
using ufs::testing::S3TestServer;

constexpr char kAccessKey[] = "AKIAE2EMOUNTTEST";
constexpr char kSecretKey[] = "e2e-secret-value-do-not-show";

std::string FindAws() {
  for (const char* candidate : {"/usr/bin/aws", "/usr/local/bin/aws"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  auto which = RunCommand({"/bin/sh", "-c", "command -v aws"}, 10'000);
  if (which.exit_code == 0) return std::string(absl::StripTrailingAsciiWhitespace(which.output));
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string TestServersDir() {
  const char* dir = std::getenv("CISTERN_TEST_SERVERS_DIR");
  const char* home = std::getenv("HOME");
  return dir ? dir : absl::StrCat(home ? home : "/root", "/.cache/cistern/test-servers");
}

class UnderStoreMountTest : public ClusterFixture {
 protected:
  // Mount options are the only way to the stores: keep the daemons' environment clean of them.
  static void SetUpTestSuite() {
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                          "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT",
                          "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"}) {
      ::unsetenv(v);
    }
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
    ::setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
  }

  // A worker down, the client reads straight from the under-store with the mount's options.
  void ExpectDirectReadAfterWorkerStops(const std::string& path, const std::string& expected) {
    worker_.reset();  // SIGKILL
    CommandResult direct = Cli({"fs", "cat", path});
    ASSERT_EQ(direct.exit_code, 0) << direct.output;
    EXPECT_EQ(direct.output, expected);
  }

  void ExpectSecretsRedacted() {
    const std::string listing = CliOk({"fs", "mount"});
    EXPECT_EQ(listing.find(kSecretKey), std::string::npos) << listing;
    EXPECT_EQ(listing.find(AzuriteServer::kKey), std::string::npos) << listing;
    EXPECT_NE(listing.find("<redacted>"), std::string::npos) << listing;
  }
};

TEST_F(UnderStoreMountTest, S3MountWithOptionsInteroperatesWithTheAwsCli) {
  std::string why = S3TestServer::SkipReason(S3TestServer::Kind::kMoto);
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string aws = FindAws();
  if (aws.empty()) GTEST_SKIP() << "the AWS CLI (aws) is not installed";
  S3TestServer moto(S3TestServer::Kind::kMoto);
  ASSERT_TRUE(moto.Start({"e2e"}).ok()) << moto.OutputTail();

  const std::string work = dir_ + "/s3work";
  fs::create_directories(work);
  std::ofstream(work + "/config") << "[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 5MB\n"
                                  << "  multipart_chunksize = 5MB\n";
  std::map<std::string, std::string> aws_env = {{"AWS_ACCESS_KEY_ID", kAccessKey},
                                                {"AWS_SECRET_ACCESS_KEY", kSecretKey},
                                                {"AWS_CONFIG_FILE", work + "/config"},
                                                {"AWS_SHARED_CREDENTIALS_FILE", work + "/none"},
                                                {"HOME", work}};
  auto run_aws = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {aws, "--endpoint-url", moto.endpoint()});
    CommandResult r = RunCommand(args, 120'000, aws_env);
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r.output;
    return r;
  };
  // Objects the AWS CLI uploads: a multipart one and a small one (they also make the prefix).
  WriteRandomFile(work + "/from-aws.bin", 12 * kMiB + 4321, 7);
  std::ofstream(work + "/small.txt") << "hello from the AWS CLI\n";
  run_aws({"s3", "cp", work + "/from-aws.bin", "s3://e2e/prefix/from-aws.bin"});
  run_aws({"s3", "cp", work + "/small.txt", "s3://e2e/prefix/small.txt"});

  CliOk({"fs", "mount", "--option", "s3.endpoint=" + moto.endpoint(), "--option", "s3.path_style=true", "--option",
         "s3.region=us-east-1", "--option", absl::StrCat("s3.access_key=", kAccessKey), "--option",
         absl::StrCat("s3.secret_key=", kSecretKey), "--option", "s3.part_size=5MiB", "/s3", "s3://e2e/prefix"});
  ExpectSecretsRedacted();

  const std::string ls = CliOk({"fs", "ls", "/s3"});
  EXPECT_NE(ls.find("from-aws.bin"), std::string::npos) << ls;
  EXPECT_NE(ls.find("small.txt"), std::string::npos) << ls;
  // cat and get go through the worker, which reads the store with the mount's options.
  EXPECT_EQ(CliOk({"fs", "cat", "/s3/small.txt"}), "hello from the AWS CLI\n");
  CliOk({"fs", "get", "/s3/from-aws.bin", work + "/back.bin"});
  EXPECT_EQ(DiffFiles(work + "/from-aws.bin", work + "/back.bin"), "");

  // put with CACHE_THROUGH: the worker writes the object (multipart: 5 MiB parts).
  WriteRandomFile(work + "/put.bin", 11 * kMiB + 77, 8);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", work + "/put.bin", "/s3/dir/put.bin"});
  run_aws({"s3", "cp", "s3://e2e/prefix/dir/put.bin", work + "/put.download"});
  EXPECT_EQ(DiffFiles(work + "/put.bin", work + "/put.download"), "");
  CommandResult head = run_aws({"s3api", "head-object", "--bucket", "e2e", "--key", "prefix/dir/put.bin"});
  EXPECT_NE(head.output.find("-3\\\""), std::string::npos) << "three parts: " << head.output;
  const std::string stat = CliOk({"fs", "stat", "/s3/dir/put.bin"});
  EXPECT_NE(stat.find("PERSISTED"), std::string::npos) << stat;

  ExpectDirectReadAfterWorkerStops("/s3/small.txt", "hello from the AWS CLI\n");
}

// The Azure SDK for JavaScript (an outside client) uploads with staged blocks and downloads.
class AzureSdk {
 public:
  AzureSdk(std::string dir, std::string endpoint) : dir_(std::move(dir)), endpoint_(std::move(endpoint)) {
    std::ofstream(dir_ + "/azure.js") << R"JS(
const { BlobServiceClient, StorageSharedKeyCredential } = require('@azure/storage-blob');
const [cmd, endpoint, container, blob, file] = process.argv.slice(2);
const svc = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(process.env.AZ_ACCOUNT, process.env.AZ_KEY));
const c = svc.getContainerClient(container);
(async () => {
  if (cmd === 'container') await c.createIfNotExists();
  else if (cmd === 'upload') await c.getBlockBlobClient(blob).uploadFile(file, { blockSize: 1 << 20, maxSingleShotSize: 1 << 20 });
  else if (cmd === 'download') await c.getBlobClient(blob).downloadToFile(file);
  else if (cmd === 'blocks') console.log((await c.getBlockBlobClient(blob).getBlockList('committed')).committedBlocks.length);
  else throw new Error('unknown command ' + cmd);
})().catch((e) => { console.error(e.message); process.exit(1); });
)JS";
  }

  static std::string Node() {
    auto which = RunCommand({"/bin/sh", "-c", "command -v node"}, 10'000);
    return which.exit_code == 0 ? std::string(absl::StripTrailingAsciiWhitespace(which.output)) : "";
  }

  static std::string SkipReason() {
    if (Node().empty()) return "node is not installed (needed for the Azure SDK)";
    if (!std::filesystem::exists(TestServersDir() + "/node_modules/@azure/storage-blob/package.json")) {
      return "the Azure SDK (npm package @azure/storage-blob) is not installed (run scripts/install-test-servers.sh)";
    }
    return "";
  }

  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {Node(), dir_ + "/azure.js"});
    args.insert(args.begin() + 3, endpoint_);
    CommandResult r = RunCommand(args, 120'000,
                                 {{"NODE_PATH", TestServersDir() + "/node_modules"},
                                  {"AZ_ACCOUNT", AzuriteServer::kAccount},
                                  {"AZ_KEY", AzuriteServer::kKey}});
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r.output;
    return r;
  }

 private:
  const std::string dir_, endpoint_;
};

TEST_F(UnderStoreMountTest, AzureMountWithOptionsInteroperatesWithTheAzureSdk) {
  for (const std::string& why : {AzuriteServer::SkipReason(), AzureSdk::SkipReason()}) {
    if (!why.empty()) GTEST_SKIP() << why;
  }
  AzuriteServer azurite;
  ASSERT_TRUE(azurite.Start({"e2e"}).ok()) << azurite.OutputTail();
  const std::string work = dir_ + "/azwork";
  fs::create_directories(work);
  AzureSdk sdk(work, azurite.endpoint());
  WriteRandomFile(work + "/from-sdk.bin", 5 * kMiB + 999, 9);
  std::ofstream(work + "/small.txt") << "hello from the Azure SDK\n";
  sdk.Run({"upload", "e2e", "prefix/from-sdk.bin", work + "/from-sdk.bin"});
  sdk.Run({"upload", "e2e", "prefix/small.txt", work + "/small.txt"});
  EXPECT_EQ(sdk.Run({"blocks", "e2e", "prefix/from-sdk.bin"}).output, "6\n") << "staged in 1 MiB blocks";

  const std::string uri = absl::StrCat("wasb://e2e@", AzuriteServer::kAccount, "/prefix");
  CliOk({"fs", "mount", "--option", "azure.endpoint=" + azurite.endpoint(), "--option",
         absl::StrCat("azure.account_key=", AzuriteServer::kKey), "--option", "azure.block_size=4MiB", "/az", uri});
  ExpectSecretsRedacted();

  const std::string ls = CliOk({"fs", "ls", "/az"});
  EXPECT_NE(ls.find("from-sdk.bin"), std::string::npos) << ls;
  EXPECT_EQ(CliOk({"fs", "cat", "/az/small.txt"}), "hello from the Azure SDK\n");
  CliOk({"fs", "get", "/az/from-sdk.bin", work + "/back.bin"});
  EXPECT_EQ(DiffFiles(work + "/from-sdk.bin", work + "/back.bin"), "");

  WriteRandomFile(work + "/put.bin", 9 * kMiB + 5, 10);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", work + "/put.bin", "/az/dir/put.bin"});
  sdk.Run({"download", "e2e", "prefix/dir/put.bin", work + "/put.download"});
  EXPECT_EQ(DiffFiles(work + "/put.bin", work + "/put.download"), "");
  EXPECT_EQ(sdk.Run({"blocks", "e2e", "prefix/dir/put.bin"}).output, "3\n") << "staged in 4 MiB blocks";

  ExpectDirectReadAfterWorkerStops("/az/small.txt", "hello from the Azure SDK\n");
}

}  // namespace
}  // namespace cistern::testing
