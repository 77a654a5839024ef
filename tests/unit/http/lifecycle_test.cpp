// The startup restore must not turn a service ready once a shutdown has begun.
#include "analyzer/http/lifecycle.hpp"

#include <gtest/gtest.h>

namespace analyzer::http {
namespace {

TEST(LifecycleTest, finish_starting_moves_starting_to_ready) {
  lifecycle life;
  EXPECT_TRUE(life.finish_starting());
  EXPECT_EQ(life.current(), phase::ready);
}

TEST(LifecycleTest, finish_starting_after_a_signal_keeps_the_shutdown_phase) {
  for (const phase shutting_down : {phase::stopping, phase::draining}) {
    lifecycle life;
    life.set(shutting_down);  // SIGTERM arrived while the restore ran
    EXPECT_FALSE(life.finish_starting());
    EXPECT_EQ(life.current(), shutting_down);
  }
}

}  // namespace
}  // namespace analyzer::http
