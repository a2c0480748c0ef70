/* qemu-exit: end the QEMU test VM with a verdict. Writes one byte V to I/O port 0xf4, where the
 * harness puts `-device isa-debug-exit,iobase=0xf4,iosize=0x04`; QEMU then exits with status
 * (V << 1) | 1 (0x10 -> 33 = pass, 0x11 -> 35 = fail). Syncs first so that everything the test
 * wrote reaches the disk images. Built static: it runs inside the busybox guest. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <unistd.h>

int main(int argc, char **argv) {
    unsigned long v = argc > 1 ? strtoul(argv[1], NULL, 0) : 0x11;
    sync();
    if (ioperm(0xf4, 4, 1) != 0) {
        perror("qemu-exit: ioperm");
        return 1;
    }
    outb((unsigned char)v, 0xf4);
    /* Not reached under QEMU with isa-debug-exit. */
    fprintf(stderr, "qemu-exit: still running: no isa-debug-exit device at 0xf4?\n");
    return 1;
}
