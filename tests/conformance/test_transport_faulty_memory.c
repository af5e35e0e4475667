/* The transport conformance suite once more, over faulty+memory:// with low rates
 * of the faults the transport contract allows: slow calls, delivery reports late
 * and out of order, a producer queue that is full now and then (RILL_EFULL, then
 * writable).  A transport that behaves like this is still a correct transport, so
 * every test of the suite must pass; it also checks that the wrapper passes every
 * slot and handler through.  Faults that break the contract on purpose (a message
 * after pause, failed commits, lost revokes, stalls) are not for this suite: their
 * effect on the core is what test_faults_memory checks. */
#include "transport_suite.h"

int main(void) {
    return rill_transport_conformance(
        "faulty+memory://conformance-faulty?seed=1313&fail.produce=0.05&"
        "fail.produce.err=EFULL&delay.delivery.ms=0-5&reorder.delivery=0.05&"
        "delay.produce.ms=0-1&delay.commit.ms=0-2&delay.seek.ms=0-1&"
        "delay.reader_open.ms=0-2&delay.subscribe.ms=0-5",
        NULL, 100);
}
