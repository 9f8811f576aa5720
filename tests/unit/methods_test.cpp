// The method table: the traits that others read from it, ranks_with derived from them, and
// the JSON it is exported as.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "reader.hpp"

namespace readpath {
namespace {

std::vector<const MethodInfo*> everything() {
  std::vector<const MethodInfo*> all;
  for (const auto& m : methods()) all.push_back(&m);
  for (const auto& m : baselines()) all.push_back(&m);
  return all;
}

TEST(MethodTable, NamesAreUniqueAcrossMethodsAndBaselines) {
  std::set<std::string_view> seen;
  for (const MethodInfo* m : everything()) EXPECT_TRUE(seen.insert(m->name).second) << m->name;
}

TEST(MethodTable, RanksWithFollowsWhatThePassDoes) {
  for (const auto& m : methods()) {
    const RanksWith group = ranks_with(m);
    if (m.family == Family::read || m.family == Family::uring) {
      EXPECT_EQ(group, RanksWith::syscall) << m.name;  // the kernel copies into a buffer per request
    } else if (m.delivers == Delivers::touch) {
      EXPECT_EQ(group, RanksWith::fault) << m.name;
    } else {
      EXPECT_TRUE(m.keeps_mapping) << m.name;
      EXPECT_EQ(group, RanksWith::mapping) << m.name;
    }
  }
  EXPECT_EQ(ranks_with(*find_method("mmap_copy")), RanksWith::mapping);
  EXPECT_EQ(ranks_with(*find_method("mmap_populate")), RanksWith::fault);
  for (const auto& b : baselines()) EXPECT_EQ(ranks_with(b), RanksWith::baseline) << b.name;
}

TEST(MethodTable, TraitsAgreeWithEachOther) {
  for (const MethodInfo* m : everything()) {
    EXPECT_FALSE(m->keeps_mapping && m->maps_per_pass) << m->name;
    EXPECT_EQ(m->uses_qd, m->family == Family::uring) << m->name;
    // Only touching methods map per pass, and they touch one page per request.
    EXPECT_EQ(m->maps_per_pass, m->delivers == Delivers::touch) << m->name;
    if (m->delivers == Delivers::touch) {
      EXPECT_FALSE(m->uses_io) << m->name;
    }
    EXPECT_FALSE(m->timed.empty()) << m->name;
    EXPECT_FALSE(m->request.empty()) << m->name;
    EXPECT_FALSE(m->summary.empty()) << m->name;
  }
}

TEST(MethodTable, OnlyTheODirectMethodsAreDirect) {
  std::vector<std::string_view> direct;
  for (const MethodInfo* m : everything())
    if (m->direct) direct.push_back(m->name);
  EXPECT_EQ(direct, (std::vector<std::string_view>{"pread_direct", "uring_direct"}));
  for (const auto name : direct) {
    const MethodInfo& m = *find_method(name);
    EXPECT_EQ(m.delivers, Delivers::copy) << name;
    EXPECT_EQ(ranks_with(m), RanksWith::syscall) << name;
  }
  EXPECT_EQ(find_method("pread_direct")->family, Family::read);
  EXPECT_EQ(find_method("uring_direct")->family, Family::uring);
}

TEST(MethodJson, PutsTheNameFirstAndEveryTrait) {
  const std::string json = methods_json({find_method("mmap_copy")});
  EXPECT_EQ(json.rfind("[{\"name\":\"mmap_copy\",\"family\":\"mmap\",", 0), 0u) << json;
  for (const char* key : {"\"uses_qd\":false", "\"uses_io\":true", "\"delivers\":\"copy\"",
                          "\"keeps_mapping\":true", "\"maps_per_pass\":false,\"direct\":false,\"ranks_with\"",
                          "\"ranks_with\":\"mapping\"",
                          "\"timed\":\"memcpy out of a mapping made before timing",
                          "\"request\":\"one memcpy of io bytes", "\"summary\":"})
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  EXPECT_EQ(json.back(), ']');
}

TEST(MethodJson, EscapesQuotesBackslashesAndControlCharacters) {
  const MethodInfo odd{.name = "odd", .family = Family::baseline, .delivers = Delivers::copy,
                       .keeps_mapping = false, .maps_per_pass = false, .uses_qd = false, .uses_io = true,
                       .summary = "say \"hi\" \\ now", .timed = "tab\there", .request = "r"};
  const std::string json = methods_json({&odd});
  EXPECT_NE(json.find(R"("summary":"say \"hi\" \\ now")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("timed":"tab\u0009here")"), std::string::npos) << json;
}

TEST(MethodJson, OneObjectPerLineOnRequest) {
  const std::string compact = methods_json({&methods()[0], &methods()[1]});
  const std::string lines = methods_json({&methods()[0], &methods()[1]}, true);
  EXPECT_EQ(compact.find('\n'), std::string::npos);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3) << lines;  // "[", two objects, "]"
  EXPECT_EQ(methods_json({}), "[]");
}

}  // namespace
}  // namespace readpath
