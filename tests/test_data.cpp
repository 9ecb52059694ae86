#include <gtest/gtest.h>
TEST(Placeholder, test_data) { EXPECT_TRUE(true); }
