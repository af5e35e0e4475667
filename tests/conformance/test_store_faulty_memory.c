/* The store conformance suite once more, over faulty+memory:// with slow calls: the
 * only store faults a correct store shows (a failed call is the store refusing,
 * which the suite would rightly report; its effect on the core is what
 * test_faults_memory checks).  Every slot goes through the wrapper, so this also
 * checks that it passes each one on unchanged.  get and put are not slowed: the
 * suite's many_keys_put_get_and_scan makes 200,000 of them. */
#include "store_suite.h"

int main(void) {
    return rill_store_conformance(
        "faulty+memory://?seed=77&delay.part_open.ms=0-2&delay.write.ms=0-1&"
        "delay.scan.ms=0-2&delay.offset.ms=0-1&delay.stats.ms=0-1&delay.drop.ms=0-2&"
        "delay.del.ms=0-1");
}
