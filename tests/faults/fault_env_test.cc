// meterd — tests/faults/fault_env_test.cc: the fault-injecting Env itself (tests/testing/
// fault_env.h): what a simulated power loss keeps and drops, torn writes, injected errors and
// operation counting, on both I/O backends.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "tests/testing/fault_env.h"
#include "tests/testing/temp_dir.h"

namespace meterd::testing {
namespace fault_env_test {

using storage::IoBackend;
using storage::OpenMode;

std::string Read(const std::string& path) {
  std::string out;
  Status s = storage::ReadWholeFile(path, &out);
  return s.ok() ? out : "<" + s.ToString() + ">";
}

class FaultEnvTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  TempDir dir_;
  FaultEnv env_;
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  // Creates `name` holding `data`, synced, with its directory entry synced.
  void MakeDurable(const std::string& name, const std::string& data) {
    auto f = env_.OpenFile(Path(name), OpenMode::kCreateTruncate, GetParam());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAtAndSync(0, data).ok());
    ASSERT_TRUE((*f)->Close().ok());
    ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  }
};

TEST_P(FaultEnvTest, PowerLossDropsUnsyncedWritesAndKeepsSyncedOnes) {
  MakeDurable("a", "hello");
  auto f = env_.OpenFile(Path("a"), OpenMode::kReadWrite, GetParam());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(5, " world").ok());  // extends, unsynced
  ASSERT_TRUE((*f)->WriteAt(0, "J").ok());       // overwrites, unsynced
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(Read(Path("a")), "Jello world");
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("a")), "hello");

  auto g = env_.OpenFile(Path("a"), OpenMode::kReadWrite, GetParam());
  ASSERT_TRUE((*g)->WriteAtAndSync(5, "!").ok());
  ASSERT_TRUE((*g)->Close().ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("a")), "hello!");
}

TEST_P(FaultEnvTest, ACreatedFileVanishesUnlessItsDirectoryWasSynced) {
  auto f = env_.OpenFile(Path("new"), OpenMode::kCreateTruncate, GetParam());
  ASSERT_TRUE((*f)->WriteAtAndSync(0, "data").ok());  // data synced, name not
  ASSERT_TRUE((*f)->Close().ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_FALSE(storage::FileExists(Path("new")));

  MakeDurable("kept", "data");
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("kept")), "data");
}

TEST_P(FaultEnvTest, AnUnsyncedRenameIsUndoneAndTheReplacedFileComesBack) {
  MakeDurable("target", "old");
  MakeDurable("tmp", "new");
  ASSERT_TRUE(env_.RenameFile(Path("tmp"), Path("target")).ok());
  EXPECT_EQ(Read(Path("target")), "new");
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("target")), "old");
  EXPECT_EQ(Read(Path("tmp")), "new");

  ASSERT_TRUE(env_.RenameFile(Path("tmp"), Path("target")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("target")), "new");
  EXPECT_FALSE(storage::FileExists(Path("tmp")));
}

TEST_P(FaultEnvTest, AnUnsyncedRemoveIsUndone) {
  MakeDurable("f", "content");
  ASSERT_TRUE(env_.RemoveFile(Path("f")).ok());
  EXPECT_FALSE(storage::FileExists(Path("f")));
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("f")), "content");
}

TEST_P(FaultEnvTest, WriteToARenamedFileIsDroppedAtItsNewName) {
  // The data of a file renamed and published durably, but never synced itself, is lost.
  auto f = env_.OpenFile(Path("x.tmp"), OpenMode::kCreateTruncate, GetParam());
  ASSERT_TRUE((*f)->WriteAt(0, "unsynced").ok());
  ASSERT_TRUE((*f)->Close().ok());
  ASSERT_TRUE(env_.RenameFile(Path("x.tmp"), Path("x")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read(Path("x")), "");
}

TEST_P(FaultEnvTest, CrashAtOpTearsTheWriteAndFailsEverythingAfter) {
  MakeDurable("w", "");
  auto f = env_.OpenFile(Path("w"), OpenMode::kReadWrite, GetParam());
  env_.CrashAtOp(2, /*torn_bytes=*/3);
  ASSERT_TRUE((*f)->WriteAt(0, "abc").ok());  // op 1
  Status torn = (*f)->WriteAt(3, "defghi");   // op 2: the cut, 3 bytes reach the file
  EXPECT_TRUE(torn.IsIOError()) << torn.ToString();
  EXPECT_TRUE(env_.crashed());
  EXPECT_TRUE((*f)->Sync().IsIOError());
  EXPECT_TRUE(env_.RemoveFile(Path("w")).IsIOError());
  ASSERT_TRUE((*f)->Close().ok());
  // A process crash keeps what reached the kernel, the torn part included.
  ASSERT_TRUE(env_.SimulatePowerLoss(PowerLossMode::kKeepUnsynced).ok());
  EXPECT_EQ(Read(Path("w")), "abcdef");
  EXPECT_FALSE(env_.crashed());
}

TEST_P(FaultEnvTest, ErrorRulesInjectErrnoOnMatchingOperationsOnly) {
  env_.AddErrorRule(ErrorRule{kOpWrite, ENOSPC, "full", /*skip=*/1, /*times=*/2});
  MakeDurable("other", "x");  // not matching the path
  auto f = env_.OpenFile(Path("full"), OpenMode::kCreateTruncate, GetParam());
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->WriteAt(0, "1").ok());  // skipped
  Status s = (*f)->WriteAt(1, "2");
  EXPECT_TRUE(s.IsIOError() && s.IsNoSpace()) << s.ToString();
  EXPECT_TRUE((*f)->WriteAt(1, "2").IsNoSpace());
  EXPECT_TRUE((*f)->WriteAt(1, "2").ok());  // the rule's two failures are spent
  EXPECT_EQ(env_.injected_errors(), 2u);

  ErrorRule eio;
  eio.ops = kOpSync;
  eio.err = EIO;
  env_.AddErrorRule(eio);
  Status sync = (*f)->Sync();
  EXPECT_TRUE(sync.IsIOError() && !sync.IsNoSpace()) << sync.ToString();
  ASSERT_TRUE((*f)->Close().ok());
}

TEST_P(FaultEnvTest, CountsMutatingOperationsByKind) {
  const uint64_t before = env_.ops();
  MakeDurable("c", "data");  // create, write, sync, syncdir
  EXPECT_EQ(env_.ops() - before, 4u);
  auto kinds = env_.ops_by_kind();
  EXPECT_EQ(kinds["create"], 1u);
  EXPECT_EQ(kinds["write"], 1u);
  EXPECT_EQ(kinds["sync"], 1u);
  EXPECT_EQ(kinds["syncdir"], 1u);
  std::string data;
  ASSERT_TRUE(env_.ReadWholeFile(Path("c"), &data).ok());  // reads are not counted
  EXPECT_EQ(env_.ops() - before, 4u);
}

TEST_P(FaultEnvTest, PowerLossUndoesAnUnsyncedDirectoryAndEverythingInIt) {
  ASSERT_TRUE(env_.CreateDir(Path("sub")).ok());  // not durable: parent not synced
  auto f = env_.OpenFile(Path("sub/f"), OpenMode::kCreateTruncate, GetParam());
  ASSERT_TRUE((*f)->WriteAtAndSync(0, "x").ok());
  ASSERT_TRUE((*f)->Close().ok());
  ASSERT_TRUE(env_.SyncDir(Path("sub")).ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_FALSE(storage::FileExists(Path("sub")));
  // CreateDirIfMissing syncs the parent: durable.
  ASSERT_TRUE(env_.CreateDirIfMissing(Path("a/b")).ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_TRUE(storage::FileExists(Path("a/b")));
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultEnvTest,
                         ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         [](const auto& info) {
                           return std::string(storage::IoBackendName(info.param)) == "io_uring"
                                      ? std::string("IoUring")
                                      : std::string("Posix");
                         });

}  // namespace fault_env_test
}  // namespace meterd::testing
