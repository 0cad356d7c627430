#include "raft/membership.h"

#include "gtest/gtest.h"

namespace cistern::raft {
namespace {

Membership Voters(std::set<NodeId> voters) {
  Membership m;
  m.voters = std::move(voters);
  return m;
}

TEST(MembershipTest, ChangesOneServerAtATime) {
  Membership m = Voters({1, 2, 3});
  auto learner = ApplyConfChange(m, ConfChange{ConfChangeType::kAddLearner, 4, "host4:7800"});
  ASSERT_TRUE(learner.ok()) << learner.status();
  EXPECT_TRUE(learner->IsLearner(4));
  EXPECT_FALSE(learner->IsVoter(4));
  EXPECT_EQ(learner->contexts.at(4), "host4:7800");

  auto promoted = ApplyConfChange(*learner, ConfChange{ConfChangeType::kAddVoter, 4, ""});
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(promoted->voters, (std::set<NodeId>{1, 2, 3, 4}));
  EXPECT_TRUE(promoted->learners.empty());
  EXPECT_EQ(promoted->contexts.at(4), "host4:7800") << "an empty context keeps the old one";

  auto removed = ApplyConfChange(*promoted, ConfChange{ConfChangeType::kRemoveNode, 4, ""});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, m);
}

TEST(MembershipTest, RefusesChangesThatDoNothingOrBreakTheCluster) {
  const Membership m = Voters({1, 2});
  EXPECT_EQ(ApplyConfChange(m, ConfChange{ConfChangeType::kAddVoter, 2, ""}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyConfChange(m, ConfChange{ConfChangeType::kAddLearner, 1, ""}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyConfChange(m, ConfChange{ConfChangeType::kRemoveNode, 9, ""}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyConfChange(m, ConfChange{ConfChangeType::kAddVoter, 0, ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto one = ApplyConfChange(m, ConfChange{ConfChangeType::kRemoveNode, 2, ""});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(ApplyConfChange(*one, ConfChange{ConfChangeType::kRemoveNode, 1, ""}).status().code(),
            absl::StatusCode::kFailedPrecondition)
      << "the last voter stays";
}

TEST(MembershipTest, EncodingsRoundTrip) {
  Membership m = Voters({1, 2, 0xFFFFFFFFFFFFull});
  m.learners = {7};
  m.contexts = {{1, "a:1"}, {7, std::string("\0\xff", 2)}};
  auto decoded = DecodeMembership(EncodeMembership(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, m);

  ConfChangeRecord record{ConfChange{ConfChangeType::kAddLearner, 7, "x"}, m};
  auto entry = DecodeConfChangeEntry(EncodeConfChangeEntry(record));
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(*entry, record);
}

TEST(MembershipTest, DecodersRejectEveryTruncationAndCorruption) {
  Membership m = Voters({1, 2, 3});
  m.learners = {4};
  m.contexts = {{4, "host4"}};
  const std::string data = EncodeConfChangeEntry(ConfChangeRecord{ConfChange{ConfChangeType::kAddLearner, 4, "host4"}, m});
  for (size_t n = 0; n < data.size(); ++n) {
    EXPECT_FALSE(DecodeConfChangeEntry(data.substr(0, n)).ok()) << "truncated to " << n;
  }
  EXPECT_FALSE(DecodeConfChangeEntry(data + "x").ok()) << "trailing byte";
  std::string bad_version = data;
  bad_version[0] = 9;
  EXPECT_EQ(DecodeConfChangeEntry(bad_version).status().code(), absl::StatusCode::kDataLoss);
  std::string bad_type = data;
  bad_type[1] = 0;
  EXPECT_FALSE(DecodeConfChangeEntry(bad_type).ok());
  // Flipping any single byte either fails to decode or decodes to something else: never crashes.
  for (size_t i = 0; i < data.size(); ++i) {
    std::string flipped = data;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    auto r = DecodeConfChangeEntry(flipped);
    if (r.ok()) {
      EXPECT_NE(EncodeConfChangeEntry(*r), data);
    }
  }
  // A node both voter and learner, and a huge count, are refused.
  Membership both = Voters({1});
  both.learners = {1};
  EXPECT_FALSE(DecodeMembership(EncodeMembership(both)).ok());
  EXPECT_FALSE(DecodeMembership(std::string("\x01\xff\xff\xff\xff\x0f", 6)).ok());
}

}  // namespace
}  // namespace cistern::raft
