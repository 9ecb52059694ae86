#include <gtest/gtest.h>
TEST(Placeholder, test_models) { EXPECT_TRUE(true); }
