#include <gtest/gtest.h>
TEST(Placeholder, test_local) { EXPECT_TRUE(true); }
