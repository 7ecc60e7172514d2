// expect: user_or_group_id_must_be_at_most_4294967294
// User ids are 32 bits: 2^32 used to reach setuid() as 0, running the workers as root.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"user">(4294967296LL).listen(0);
}
